"""`hub agents add` as a process refuses a weak password (the web forms' checks are in
tests/integration/accounts/test_passwords_and_tokens.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hub.config import Settings

NEW = "Pati-dels-tarongers-2027"


def test_hub_agents_add_refuses_a_weak_password(tmp_path: Path, settings: Settings) -> None:
    import os

    env = {**os.environ, "HUB_DATABASE_URL": settings.database_url, "HUB_DATA_DIR": str(tmp_path / "var")}
    hub = [sys.executable, "-m", "entrypoints.cli"] if not Path(sys.executable).with_name("hub").exists() \
        else [str(Path(sys.executable).with_name("hub"))]
    weak = subprocess.run([*hub, "agents", "add", "boss@oac.example", "--name", "Boss", "--role", "admin"],
                          input="12345678\n", env=env, capture_output=True, text=True, timeout=60)
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr
    strong = subprocess.run([*hub, "agents", "add", "boss@oac.example", "--name", "Boss", "--role", "admin"],
                            input=NEW + "\n", env=env, capture_output=True, text=True, timeout=60)
    assert strong.returncode == 0, strong.stderr
