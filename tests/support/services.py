"""Real services for tests: reach them, or skip locally / fail in CI.

CI sets `HUB_TEST_REQUIRE_SERVICES=1`: a test that needs a service which is missing then
fails with the reason instead of skipping, so a broken CI machine cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("HUB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")
DOVECOT = os.environ.get("HUB_TEST_DOVECOT", "/usr/sbin/dovecot")


def services_required() -> bool:
    return os.environ.get("HUB_TEST_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (in CI) because a real service is missing."""
    if services_required():
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def require_postgres() -> str:
    host, port = _host_port(POSTGRES_URL, 5432)
    if not port_open(host, port):
        unavailable(f"PostgreSQL is not listening on {host}:{port}")
    return POSTGRES_URL


def require_redis() -> str:
    """The Redis of `HUB_TEST_REDIS_URL` (default 127.0.0.1:6379): point it at a server of
    your own to run two test suites at once on one machine."""
    host, port = _host_port(REDIS_URL, 6379)
    if not port_open(host, port):
        unavailable(f"Redis is not listening on {host}:{port}")
    return REDIS_URL


def require_redis_db() -> str:
    """A Redis database of its own for one test: emptied first, so tests never see each
    other's sessions, login throttles or queued jobs (index 13, never the default 0)."""
    require_redis()
    import redis

    url = REDIS_URL.rsplit("/", 1)[0] + "/13"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


def require_rabbitmq() -> str:
    if not port_open("127.0.0.1", 5672):
        unavailable("RabbitMQ is not listening on 127.0.0.1:5672")
    return RABBITMQ_URL


def require_chromium() -> str:
    if not os.path.exists(CHROMIUM):
        unavailable(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def require_dovecot() -> str:
    if not os.path.exists(DOVECOT) and not shutil.which("dovecot"):
        unavailable("dovecot not installed (apt-get install dovecot-imapd dovecot-lmtpd)")
    return DOVECOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
