"""The guard of tests/unit (conftest.py): a unit test that opens a connection or starts a process fails."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest


def test_a_unit_test_that_opens_a_socket_fails() -> None:
    with socket.socket() as s, pytest.raises(pytest.fail.Exception, match="network connection.*tests/integration"):
        s.connect(("127.0.0.1", 5432))
    with pytest.raises(pytest.fail.Exception, match="network connection"):
        socket.create_connection(("127.0.0.1", 6379), timeout=1)


async def test_an_asyncio_connection_fails_too() -> None:
    with pytest.raises(pytest.fail.Exception, match="network connection"):
        await asyncio.open_connection("127.0.0.1", 5432)


def test_a_unit_test_that_starts_a_process_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match="started a process.*tests/e2e"):
        subprocess.run([sys.executable, "-c", "pass"])


async def test_an_asyncio_process_fails_too() -> None:
    with pytest.raises(pytest.fail.Exception, match="started a process"):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
