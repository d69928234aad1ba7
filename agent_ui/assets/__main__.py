"""`python -m agent_ui.assets install`: see the package docstring."""

import sys

from agent_ui.assets import install

if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        print("usage: python -m agent_ui.assets install", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(install())
