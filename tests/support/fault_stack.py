"""Throwaway servers and hub processes for fault tests: break them on purpose, never the shared ones.

- `OwnPostgres`: a PostgreSQL 15 cluster of its own (initdb in a temporary folder, run as the
  `postgres` user, on a free port), so a test may stop and restart it while others' tests use
  the machine's PostgreSQL on 5432 undisturbed.
- `OwnRedis`: a redis-server of its own on a free port (no persistence: a restart loses every
  queued message, the worst case for the broker).
- `HubProcess`: `python -m entrypoints.cli <command>` with a given environment, its output in a
  log file (read by the tests that look for secrets in logs).
Everything is stopped by the fixtures that start it; nothing is left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("HUB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SECRET_KEY = "fault-test-secret-key-0123456789"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _as_postgres(command: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["su", "postgres", "-s", "/bin/sh", "-c", command]
    else:
        args = ["/bin/sh", "-c", command]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


class OwnPostgres:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            services.unavailable(f"PostgreSQL server binaries not found in {PG_BIN}")
        self.root = Path(tempfile.mkdtemp(prefix="hub-faults-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = services.free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        done = _as_postgres(f"{PG_BIN}/initdb -D {self.data} -U postgres --auth=trust -E UTF8 >/dev/null")
        if done.returncode != 0:
            services.unavailable(f"initdb failed: {done.stderr[-500:]}")
        self.start()
        self._psql("CREATE DATABASE hub")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/hub"

    def _psql(self, sql: str) -> None:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q", "-c", sql],
                       check=True, capture_output=True, timeout=30)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        done = _as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -o '{opts}' -l {self.root}/pg.log -w start")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}")

    def stop(self) -> None:
        _as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -m fast -w stop")

    def query(self, sql: str) -> list[list[str]]:
        """Rows as lists of strings (psql's unaligned output), for reconciliations."""
        done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "hub", "-At",
                               "-F", "\t", "-c", sql], check=True, capture_output=True, text=True, timeout=30)
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def scalar(self, sql: str) -> int:
        return int(self.query(sql)[0][0])

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class OwnRedis:
    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            services.unavailable("redis-server is not installed")
        self.root = Path(tempfile.mkdtemp(prefix="hub-faults-redis-"))
        self.port = services.free_port()
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run([
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "yes", "--pidfile", str(self.root / "redis.pid"), "--logfile", str(self.root / "redis.log"),
            "--dir", str(self.root),
        ], check=True, timeout=30)
        wait_for(lambda: services.port_open("127.0.0.1", self.port), 10, "redis to listen")

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=30)
        wait_for(lambda: not services.port_open("127.0.0.1", self.port), 10, "redis to stop")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; every queued job is gone."""
        pid = int((self.root / "redis.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not services.port_open("127.0.0.1", self.port), 10, "redis to die")
        (self.root / "redis.pid").unlink(missing_ok=True)

    def close(self) -> None:
        if services.port_open("127.0.0.1", self.port):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class HubProcess:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self._fh = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", *command], env=env, cwd=ROOT,
                                     stdout=self._fh, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed; what was in flight is cut off."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._fh.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def hub_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(PYTHONPATH=str(ROOT), HUB_SECRET_KEY=SECRET_KEY, HUB_LOG_LEVEL="INFO", HUB_OFFICE_HOURS="always")
    env.update(values)
    return env
