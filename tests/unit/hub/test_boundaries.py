"""The layers' import rules (each top folder's `__init__.py` states its own).

From the bottom up: the core (`hub`) imports no framework, broker, provider library, channel,
web or entry point; the plumbing (`runtime`) imports no channel, web or entry point; channels
import no web or entry point; the web imports no entry point; nothing imports the entry points
(`entrypoints`, the composition root), and only they load project modules by name (`importlib`).
No two packages import each other, directly or around a loop. Imports inside functions count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("hub", "runtime", "channels", "agent_ui", "entrypoints")

FRAMEWORKS = {
    "litestar", "dramatiq", "twilio", "aioimaplib", "aiosmtplib", "aiosmtpd", "redis", "httpx", "uvicorn",
    "aiohttp", "jinja2", "periodiq", "prometheus_client",
}
FORBIDDEN: dict[str, set[str]] = {
    "hub": FRAMEWORKS | {"channels", "agent_ui", "runtime", "entrypoints"},
    "runtime": {"channels", "agent_ui", "entrypoints"},
    "channels": {"agent_ui", "entrypoints"},
    "agent_ui": {"entrypoints"},
}
DYNAMIC = {"importlib", "__import__"}
# The rule is about project modules; these load a third-party module by file, and say why.
THIRD_PARTY_LOADERS = {
    "hub.calendar": "one country of the holidays library, without the ~250 its package imports",
}


def imports_of(source: str, filename: str = "<string>") -> set[str]:
    """Every absolute module name imported by this source, at any depth (functions too)."""
    names = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            names.add("__import__")
    return names


def imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imports_of(path.read_text(), str(path))}


def sources(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def layer_violations(root: Path) -> dict[str, list[str]]:
    offenders: dict[str, list[str]] = {}
    for module, path in sources(root).items():
        package = module.split(".")[0]
        roots = imported_roots(path)
        bad = roots & FORBIDDEN.get(package, set())
        if package != "entrypoints" and module not in THIRD_PARTY_LOADERS:
            bad |= roots & DYNAMIC
        if bad:
            offenders[module] = sorted(bad)
    return offenders


def package_of(module: str, packages: set[str]) -> str:
    """The innermost package (a folder with `__init__.py`) holding this module."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in packages:
            return ".".join(parts[:end])
    return parts[0]


def package_cycles(root: Path, top_level: bool) -> list[list[str]]:
    """Cycles in the graph "package A imports package B" (top-level packages or every folder)."""
    modules = sources(root)
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        here = module.split(".")[0] if top_level else package_of(module, packages)
        for name in imports_of(path.read_text(), str(path)):
            if name.split(".")[0] not in PACKAGES:
                continue
            target = name.split(".")[0] if top_level else package_of(name, packages)
            # `from hub import x` names a module x of package hub, not hub's __init__ itself.
            if target != here and not here.startswith(target + "."):
                edges.setdefault(here, set()).add(target)
    cycles, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycle = path[path.index(nxt):]
                key = frozenset(cycle)
                if key not in done:
                    done.add(key)
                    cycles.append([*cycle, nxt])
            elif len(path) < 12:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return cycles


def test_every_layer_imports_only_what_is_below_it() -> None:
    assert layer_violations(ROOT) == {}


def test_no_two_top_level_packages_import_each_other() -> None:
    assert package_cycles(ROOT, top_level=True) == []


def test_no_two_folders_import_each_other() -> None:
    # Folder by folder (hub.actions, hub.db, channels.email...); a module importing its own parent is fine.
    assert package_cycles(ROOT, top_level=False) == []


def test_the_import_walker_sees_imports() -> None:
    # Guard against a walker that finds nothing: it must see this very file's imports.
    assert {"ast", "pathlib", "pytest"} <= imported_roots(Path(__file__))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("file", "text", "offender"), [
    ("hub/core.py", "import litestar\n", "hub.core"),
    ("hub/core.py", "def f():\n    from channels import whatsapp\n", "hub.core"),
    ("runtime/plumbing.py", "from agent_ui.web import page\n", "runtime.plumbing"),
    ("channels/chan.py", "from entrypoints.cli import main\n", "channels.chan"),
    ("agent_ui/page.py", "import entrypoints.web\n", "agent_ui.page"),
    ("channels/chan.py", "import importlib\nimportlib.import_module('agent_ui.web')\n", "channels.chan"),
])
def test_the_rules_catch_one_forbidden_import(tmp_path: Path, file: str, text: str, offender: str) -> None:
    root = _tree(tmp_path, {file: text})
    assert offender in layer_violations(root)


def test_the_rules_catch_a_package_cycle(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"agent_ui/page.py": "from channels import chan\n",
                            "channels/chan.py": "from agent_ui import page\n"})
    assert package_cycles(root, top_level=True) == [["agent_ui", "channels", "agent_ui"]]
    (tmp_path / "channels/chan.py").write_text("import hub\n")
    assert package_cycles(root, top_level=True) == []
