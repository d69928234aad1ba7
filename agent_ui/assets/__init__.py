"""Third-party browser assets: installed from the npm registry by the set-up, served by the hub.

`python -m agent_ui.assets install` runs `npm ci` against `package.json`/`package-lock.json` in
this folder and copies the files listed in `FILES` to `agent_ui/static/vendor/`. Nothing is
fetched at run time and nothing third-party is committed. Without npm the hub still works:
pages are plain server-rendered HTML and only the enhanced parts (charts, API explorer) wait.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
VENDOR = HERE.parent / "static" / "vendor"

# package-relative source -> name under /static/vendor/
FILES: dict[str, str] = {}


def _load_files() -> dict[str, str]:
    manifest = HERE / "files.json"
    return json.loads(manifest.read_text()) if manifest.exists() else dict(FILES)


def install() -> int:
    files = _load_files()
    if not files:
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: charts and the API explorer will be unavailable", file=sys.stderr)
        return 1
    lock = HERE / "package-lock.json"
    args = [npm, "ci" if lock.exists() else "install", "--no-audit", "--no-fund", "--silent"]
    subprocess.run(args, cwd=HERE, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, target in files.items():
        dest = VENDOR / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HERE / "node_modules" / source, dest)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        print("usage: python -m agent_ui.assets install", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(install())
