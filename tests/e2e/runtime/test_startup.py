"""`hub run` on an empty folder: creates its database, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import free_port

HUB = [sys.executable, "-m", "entrypoints.cli"]
ROOT = Path(__file__).resolve().parents[3]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_hub_run_on_an_empty_folder_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*HUB, "run", "--port", str(port)], cwd=tmp_path, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "hub run did not start within 30 s"
            time.sleep(0.1)
        assert (tmp_path / "var" / "hub.sqlite3").exists()
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        output = proc.stdout.read() if proc.stdout else ""
        assert f"http://127.0.0.1:{port}" in output
        assert "admin@oac.example" in output  # the demo logins are printed
        assert "Traceback" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_bad_setting_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [*HUB, "run", "--port", str(free_port())], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env=_env(HUB_WHATSAPP_REMINDER_AFTER="soon"),
    )
    assert result.returncode == 2
    assert "HUB_WHATSAPP_REMINDER_AFTER" in result.stderr and "20m" in result.stderr
    assert not (tmp_path / "var").exists()  # nothing was created


def test_hub_migrate_then_agents_add(tmp_path: Path) -> None:
    env = _env()
    assert subprocess.run([*HUB, "migrate"], cwd=tmp_path, env=env, capture_output=True, timeout=60).returncode == 0
    added = subprocess.run(
        [*HUB, "agents", "add", "laia@oac.example", "--name", "Laia Roca", "--role", "manager"],
        cwd=tmp_path, env=env, input="a-long-password\n", capture_output=True, text=True, timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert "laia@oac.example" in added.stdout and "password:" not in added.stdout
    again = subprocess.run(
        [*HUB, "agents", "add", "laia@oac.example", "--name", "Laia", "--role", "agent"],
        cwd=tmp_path, env=env, input="another-password\n", capture_output=True, text=True, timeout=60,
    )
    assert again.returncode == 1 and "exists already" in again.stderr
    generated = subprocess.run(
        [*HUB, "agents", "add", "pau@oac.example", "--name", "Pau"], cwd=tmp_path, env=env,
        input="", capture_output=True, text=True, timeout=60,
    )
    assert generated.returncode == 0 and "password: " in generated.stdout
