"""tests/unit keeps its promise: pure code, no I/O. Any network connection or child process a
unit test starts fails it, naming the test folder it belongs in instead."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

WHY = "belongs in tests/integration (database, servers) or tests/e2e (browser, processes)"


def refuse_network(*args: Any, **kwargs: Any) -> Any:
    pytest.fail(f"a unit test opened a network connection {args[1:]!r}: it {WHY}", pytrace=False)


def refuse_process(*args: Any, **kwargs: Any) -> Any:
    pytest.fail(f"a unit test started a process {args[1:2]!r}: it {WHY}", pytrace=False)


@pytest.fixture(autouse=True)
def no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Connections (TCP, UDP, Unix sockets; asyncio and httpx go through these) and child
    processes (subprocess, asyncio's subprocesses, os.system) fail the test."""
    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse_network)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse_network(None, *a))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_process)
    monkeypatch.setattr("os.system", lambda *a: refuse_process(None, *a))
    yield
