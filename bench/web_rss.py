"""Where the web worker's memory goes: RSS by imported package, as `hub web` builds its app.

    .venv/bin/python bench/web_rss.py [--database URL] [--broker URL] [--top 25] [--traced]

In one fresh process: imports the server's own libraries (uvicorn, uvloop, httptools), then
builds the app exactly as `hub web` does (`create_app(load_settings())`, then `settle_heap`),
recording the resident set before and after each module's first execution. Prints the RSS at
each stage and, per top-level package (per `hub.x`/`agent_ui.x` module group for ours), the
RSS its own modules added (not counting what they imported from other packages), with the
number of modules. `--traced` repeats the build under tracemalloc (slower) and prints the
Python allocations still alive by the package that made them: module code objects show up as
`<frozen importlib._bootstrap_external>` (unmarshalled bytecode), which is most of it.

The RSS under load is 5-10 MB above the figure printed here (connections, caches, the
allocator's arenas): `bench/webhooks_ceiling.py` prints that one. Nothing is contacted: the
database and broker URLs only pick the driver and the broker.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import importlib._bootstrap as bootstrap
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OURS = ("hub", "agent_ui", "channels", "entrypoints", "runtime")


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576


def group(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in OURS else parts[0]


def measure(top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    stack: list[float] = []
    load = bootstrap._load_unlocked  # type: ignore[attr-defined]

    def traced(spec: Any) -> Any:  # one module's first execution, its imports inside
        start = rss_mb()
        stack.append(0.0)
        try:
            return load(spec)
        finally:
            children = stack.pop()
            grew = rss_mb() - start
            own[group(spec.name)] += grew - children
            count[group(spec.name)] += 1
            if stack:
                stack[-1] += grew

    stages = [("interpreter", rss_mb())]
    bootstrap._load_unlocked = traced  # type: ignore[attr-defined]
    for name in ("uvicorn", "uvloop", "httptools"):
        importlib.import_module(name)
    stages.append(("server libraries (uvicorn, uvloop, httptools)", rss_mb()))
    from entrypoints.bootstrap import settle_heap
    from entrypoints.web import create_app
    from hub.config import load_settings

    stages.append(("the hub's modules imported", rss_mb()))
    create_app(load_settings())
    stages.append(("app made (create_app)", rss_mb()))
    bootstrap._load_unlocked = load  # type: ignore[attr-defined]
    settle_heap()
    stages.append(("after settle_heap (as `hub web`)", rss_mb()))

    for label, value in stages:
        print(f"{value:7.1f} MB  {label}")
    print(f"\n{len(sys.modules)} modules; RSS each package's own modules added (MB), largest first:")
    for name, grew in own.most_common(top):
        print(f"{grew:7.1f}  {name:<32} {count[name]:4d} modules")
    rest = sum(own.values()) - sum(g for _, g in own.most_common(top))
    print(f"{rest:7.1f}  (the other {max(0, len(own) - top)} packages)")


def traced_allocations(top: int) -> None:
    import tracemalloc

    tracemalloc.start(1)
    from entrypoints.web import create_app
    from hub.config import load_settings

    create_app(load_settings())
    by: collections.Counter[str] = collections.Counter()
    for stat in tracemalloc.take_snapshot().statistics("filename"):
        filename = stat.traceback[0].filename
        if "site-packages/" in filename:
            key = filename.split("site-packages/", 1)[1].split("/")[0]
        elif filename.startswith(str(ROOT)):
            key = group(".".join(Path(filename).relative_to(ROOT).with_suffix("").parts))
        elif filename.startswith("<"):
            key = filename
        else:
            key = "stdlib " + Path(filename).name
        by[key] += stat.size
    print(f"\nPython allocations alive after create_app: {sum(by.values()) / 1048576:.1f} MB, by where they were made:")
    for key, size in by.most_common(top):
        print(f"{size / 1048576:7.2f}  {key}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="postgresql+asyncpg://postgres@127.0.0.1/postgres",
                        help="HUB_DATABASE_URL for the build (only its driver matters; nothing connects)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/15",
                        help="HUB_BROKER_URL (picks dramatiq's broker, as in production; nothing is sent)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--traced", action="store_true", help="also list live Python allocations by package")
    parser.add_argument("--child", choices=["rss", "traced"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "rss":
        measure(args.top)
        return 0
    if args.child == "traced":
        traced_allocations(args.top)
        return 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_DATABASE_URL=args.database, HUB_BROKER_URL=args.broker, HUB_SECRET_KEY="bench-secret-key-0123456789abcdef",
               HUB_LOG_LEVEL="WARNING")
    for child in ["rss"] + (["traced"] if args.traced else []):  # each in a fresh interpreter
        done = subprocess.run([sys.executable, __file__, "--child", child, "--top", str(args.top)], env=env, cwd=ROOT)
        if done.returncode:
            return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
