"""A hub command started with an unknown log format stops at once naming the variable (the log
lines themselves are checked in tests/integration/deploy/test_logs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_an_unknown_log_format_stops_the_command_naming_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(PYTHONPATH=str(ROOT), HUB_LOG_FORMAT="xml")
    result = subprocess.run([sys.executable, "-m", "entrypoints.cli", "migrate"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "HUB_LOG_FORMAT" in result.stderr
    assert not (tmp_path / "var").exists()
