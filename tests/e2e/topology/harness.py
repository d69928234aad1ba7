"""The production topology as real processes on this machine, for the multi-instance proof.

`Topology` runs `hub migrate`, then two `hub web` (different ports), `hub worker`,
`hub scheduler` and `hub mailbox`, each `python -m entrypoints.cli ...` with one shared
environment, each writing to its own log file. With `separate_hosts`, each process gets its own
`HUB_DATA_DIR` (`<root>/host-<name>`), as if each ran on a machine of its own. Starting waits for readiness (`/readyz` for the
web instances, the start-up line for the others) with bounded waits; `stop()` sends SIGTERM,
then SIGKILL after a grace period, and never leaves a process behind. `logs()` gathers every
log for a failure message.

`LiveStream` reads an instance's `/events` Server-Sent Events stream in a thread and keeps
every notice, so a test can wait for the one a change on another instance must produce.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[3]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class Process:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    terminated: bool = False

    def start(self, env: dict[str, str], cwd: Path) -> None:
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", *self.args], cwd=cwd, env=env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def terminate(self) -> None:
        # Once only: a second SIGTERM during shutdown would kill the process the hard way.
        if self.popen is not None and self.popen.poll() is None and not self.terminated:
            self.terminated = True
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, grace: float = 10) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


@dataclass
class Topology:
    root: Path
    env: dict[str, str]
    web_ports: tuple[int, int]
    processes: dict[str, Process] = field(default_factory=dict)
    separate_hosts: bool = False  # each process its own HUB_DATA_DIR
    stop_seconds: dict[str, float] = field(default_factory=dict)  # how long each took to stop (cumulative order)

    @classmethod
    def environment(cls, **values: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "FORWARDED_"))}
        env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", HUB_OFFICE_HOURS="always", **values)
        return env

    def data_dir(self, name: str) -> Path:
        """The `HUB_DATA_DIR` of one process (`web-a`, `worker`...)."""
        return self.root / f"host-{name}" if self.separate_hosts else Path(self.env["HUB_DATA_DIR"])

    def host_env(self, name: str) -> dict[str, str]:
        return {"HUB_DATA_DIR": str(self.data_dir(name))} if self.separate_hosts else {}

    def url(self, instance: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[instance]}"

    def run(self, *args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A one-shot command (`hub migrate`, `hub agents add ...`), like a deployment runs it."""
        return self.run_many([(list(args), stdin)], timeout)[0]

    def run_many(self, commands: list[tuple[list[str], str]], timeout: float = 60) -> list[subprocess.CompletedProcess[str]]:
        """Several one-shot commands at once (each is mostly interpreter start-up)."""
        started = [(args, stdin, subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", *args], cwd=self.root, env=self.env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for args, stdin in commands]
        results = []
        for args, stdin, popen in started:
            try:
                out, err = popen.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                out, err = popen.communicate()
            results.append(subprocess.CompletedProcess(args, popen.returncode, out, err))
        return results

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        specs = {
            "web-a": ["web", "--port", str(self.web_ports[0])],
            "web-b": ["web", "--port", str(self.web_ports[1])],
            "worker": ["worker", "--threads", "4"],
            "scheduler": ["scheduler"],
            "mailbox": ["mailbox"],
        }
        for name, args in specs.items():
            process = Process(name, args, self.root / f"{name}.log")
            self.processes[name] = process
            process.start({**self.env, **self.host_env(name)}, self.root)

    def wait_ready(self) -> None:
        banners = {"worker": "hub worker running", "scheduler": "hub scheduler running", "mailbox": "hub mailbox polling"}
        for name, banner in banners.items():
            self._wait_for(name, lambda p=self.processes[name], b=banner: b in p.output(), f"{name} to start")
        for index, name in enumerate(("web-a", "web-b")):
            self._wait_for(name, lambda i=index: _status(self.url(i) + "/readyz") == 200, f"{name} to be ready")

    def _wait_for(self, name: str, predicate: Callable[[], bool], what: str, timeout: float = 45) -> None:
        process = self.processes[name]

        def check() -> bool:
            if not process.alive():
                raise AssertionError(f"{name} exited with {process.popen.returncode if process.popen else '?'}:\n"
                                     f"{process.output()[-4000:]}")
            return predicate()

        wait_until(check, timeout, what)

    def stop(self) -> dict[str, int | None]:
        # Web instances first (no new work), then the background processes.
        order = ["web-a", "web-b", "mailbox", "scheduler", "worker"]
        running = [self.processes[name] for name in order if name in self.processes]
        for process in running:  # SIGTERM to all at once, then wait for each: stopping takes ~1 s each
            process.terminate()
        codes = {}
        for process in running:
            began = time.monotonic()
            codes[process.name] = process.stop()
            self.stop_seconds[process.name] = round(time.monotonic() - began, 1)
        return codes

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"===== {name} ({p.log_path}) =====\n{p.output()[-tail:]}" for name, p in self.processes.items())


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=3).status_code
    except httpx.TransportError:
        return None


class LiveStream:
    """An agent's open tab: `/events` of one instance, read in a thread."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.notices: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._client = httpx.Client(base_url=base_url, headers=headers, timeout=httpx.Timeout(10, read=None))
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> "LiveStream":
        self._thread.start()
        if not self.connected.wait(15):
            raise AssertionError(f"the event stream did not open: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()  # ends the stream; the thread then returns
        self._thread.join(5)

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/events") as response:
                if response.status_code != 200:
                    raise AssertionError(f"/events answered {response.status_code}")
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line.startswith("data:"):
                        with self._lock:
                            self.notices.append(json.loads(line[5:].strip()))
        except BaseException as exc:  # closed by __exit__, or a failure to report
            self._error = exc

    def wait_for(self, what: str, timeout: float = 20, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            with self._lock:
                return next((n for n in self.notices if all(n.get(k) == v for k, v in match.items())), None)

        try:
            return wait_until(found, timeout, what)  # type: ignore[no-any-return]
        except AssertionError:
            with self._lock:
                seen = list(self.notices)
            raise AssertionError(f"{what}: no notice matching {match} among {seen}") from None
