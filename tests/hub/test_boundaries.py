"""The domain core imports no web framework, broker or provider library."""

from __future__ import annotations

import ast
from pathlib import Path

import hub

FORBIDDEN = {
    "litestar", "dramatiq", "twilio", "aioimaplib", "aiosmtplib", "aiosmtpd", "redis", "httpx", "uvicorn",
    "aiohttp", "channels", "agent_ui", "runtime", "jinja2", "periodiq",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_core_imports_no_framework_broker_or_provider() -> None:
    offenders = {}
    for path in Path(hub.__file__).parent.rglob("*.py"):
        bad = imported_roots(path) & FORBIDDEN
        if bad:
            offenders[str(path)] = sorted(bad)
    assert offenders == {}


def test_the_import_walker_sees_imports() -> None:
    # Guard against a walker that finds nothing: it must see this very file's imports.
    assert {"ast", "pathlib", "hub"} <= imported_roots(Path(__file__))
