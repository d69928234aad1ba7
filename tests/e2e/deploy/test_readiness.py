"""A real `hub web` on PostgreSQL and a Redis broker, each reached through a TCP forwarder this
test can cut: /readyz turns 503 naming the lost service and recovers; /metrics serves the
request latency and the database gauges; logs are JSON lines carrying the request id."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import databases, services

# Real processes on PostgreSQL and Redis whatever HUB_TEST_DATABASE says: run them once, in the
# PostgreSQL run (CI's second run; locally HUB_TEST_DATABASE=postgres).
pytestmark = [pytest.mark.postgres, pytest.mark.skipif(
    databases.backend() != "postgres", reason="runs in the PostgreSQL run (HUB_TEST_DATABASE=postgres)")]

ROOT = Path(__file__).resolve().parents[3]


class Forwarder:
    """127.0.0.1:port -> target, until `cut()`; `restore()` listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = services.free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def restore(self) -> "Forwarder":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                try:  # close() alone does not wake a thread blocked in accept() on Linux
                    self._listener.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._listener.close()
                self._listener = None
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _wait(url: str, want: int, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=5)
            if last.status_code == want:
                return last
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {want} within {timeout} s (last: "
                         f"{last.status_code if last else 'no answer'} {last.text if last else ''})")


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Forwarder, Forwarder, Path]]:
    pg_url = databases.postgres_database(services.require_postgres(), purpose="deploy_ready")
    services.require_redis()
    pg, redis = Forwarder(5432).restore(), Forwarder(6379).restore()
    port = services.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(ROOT), HUB_DATA_DIR=str(tmp_path / "var"), HUB_SECRET_KEY="readiness-test-key-0123456789",
        HUB_DATABASE_URL=pg_url.replace(":5432/", f":{pg.port}/"), HUB_BROKER_URL=f"redis://127.0.0.1:{redis.port}/13",
        HUB_LOG_FORMAT="json",
    )
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "web", "--port", str(port)], cwd=tmp_path,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait(f"{base}/healthz", 200, timeout=30)
        except AssertionError:
            raise AssertionError(log_path.read_text()) from None
        yield base, pg, redis, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pg.cut()
        redis.cut()


def test_readiness_fails_while_the_database_or_the_broker_is_unreachable(
        web: tuple[str, Forwarder, Forwarder, Path]) -> None:
    base, pg, redis, log_path = web
    ready = _wait(f"{base}/readyz", 200)
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}

    pg.cut()
    down = _wait(f"{base}/readyz", 503)
    assert down.json()["checks"]["database"].startswith("unreachable")
    assert down.json()["checks"]["broker"] == "ok"
    pg.restore()
    _wait(f"{base}/readyz", 200)

    redis.cut()
    down = _wait(f"{base}/readyz", 503)
    assert down.json()["checks"]["broker"].startswith("unreachable")
    assert down.json()["checks"]["database"] == "ok"
    redis.restore()
    _wait(f"{base}/readyz", 200)
    assert "Traceback" not in log_path.read_text()


def test_metrics_and_json_logs_with_the_request_id(web: tuple[str, Forwarder, Forwarder, Path]) -> None:
    base, pg, _, log_path = web
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    # the fixture saw one 200 from /healthz already
    answer = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "req-from-proxy-1"}, timeout=5)
    assert answer.headers["x-request-id"] == "req-from-proxy-1"
    assert len(httpx.get(f"{base}/healthz", headers={"X-Request-ID": "bad id; <script>"}, timeout=5)
               .headers["x-request-id"]) == 16  # not echoed: a fresh one

    scraped = httpx.get(f"{base}/metrics", timeout=10)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'hub_http_request_duration_seconds_count{method="GET",route="/readyz",status="200"} 1.0' in text
    assert 'hub_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 3.0' in text
    for gauge in ("hub_agents_available 0.0", "hub_outbox_oldest_pending_age_seconds 0.0",
                  "hub_queue_longest_wait_seconds 0.0", "hub_inbox_pending 0.0"):
        assert gauge in text, gauge

    # A scrape while the database is away still answers, and logs a warning for that request.
    pg.cut()
    import runtime.metrics  # noqa: F401  (the cache is per process: wait it out)
    time.sleep(runtime.metrics.CACHE_S + 0.2)
    assert httpx.get(f"{base}/metrics", headers={"X-Request-ID": "scrape-db-down"}, timeout=15).status_code == 200
    pg.restore()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    warning = next(e for e in lines if e["message"].startswith("metrics: reading the database failed"))
    assert warning["level"] == "WARNING" and warning["request_id"] == "scrape-db-down"
    assert warning["process"] == "web" and "time" in warning and "exc_info" in warning
    # Every log line is JSON (tracebacks included); the only other line is the start-up banner.
    others = [line for line in log_path.read_text().splitlines() if line.strip() and not line.startswith("{")]
    assert all(line.startswith("hub web listening") for line in others), others
