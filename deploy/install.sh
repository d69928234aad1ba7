#!/bin/sh
# Install the hub into a Python environment: the browser assets from the npm registry, then the
# package. The one install recipe, shared by `./dev setup` (and so CI), the container image
# (deploy/Containerfile) and a plain-server install (deploy/README.md):
#
#   deploy/install.sh PYTHON          production: `pip install .`; missing npm is an error
#   deploy/install.sh PYTHON --dev    development: editable install with the test tools; without
#                                     npm the hub still works, so that is only a warning
#
# Assets go first: they are copied into agent_ui/static/vendor/, which a non-editable install
# then packages with the rest of agent_ui (an editable install serves them from the tree).
set -eu
usage() { echo "usage: deploy/install.sh PYTHON [--dev]" >&2; exit 2; }
[ $# -ge 1 ] || usage
py=$1
mode=${2:-}
case "$mode" in ""|--dev) ;; *) usage ;; esac
cd "$(dirname "$0")/.."

if ! "$py" -m agent_ui.assets install; then
  if [ "$mode" = --dev ]; then
    echo "warning: web assets not installed (npm missing?); the hub works without them" >&2
  else
    echo "deploy/install.sh: installing the web assets failed (is npm installed?)" >&2
    exit 1
  fi
fi
"$py" -m pip install -q --upgrade pip
if [ "$mode" = --dev ]; then
  "$py" -m pip install -q -e '.[dev]'
else
  "$py" -m pip install -q --no-cache-dir .
fi
