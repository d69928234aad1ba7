"""What a web worker loads: libraries only some requests or other processes need stay out.

Each check runs in a fresh interpreter (this one has imported everything already). Measured on
the webhook bench, these imports cost a web worker about 12 MB of its memory: all ~250 country
modules of the holidays library (its package imports every one), httpx (with rich and pygments
through its command line), aiosmtplib and nh3 (only the processes that send or read mail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _fresh_python(code: str, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("HUB_")}, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


WEB_APP = """
import json, sys
from entrypoints.web import create_app
from hub.config import load_settings
create_app(load_settings())
print(json.dumps(sorted(m for m in sys.modules)))
"""


def test_a_web_worker_leaves_out_what_only_other_requests_or_processes_use(tmp_path: Path) -> None:
    modules = set(_fresh_python(WEB_APP, {  # type: ignore[arg-type]
        "PYTHONPATH": str(ROOT), "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3",
        "HUB_DATA_DIR": str(tmp_path), "HUB_SECRET_KEY": "footprint-test-secret-key-0123456789",
        "HUB_PUBLIC_URL": "https://hub.example.com", "HUB_HOLIDAYS": "ES-CT,2026-05-11",
        "HUB_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "HUB_TWILIO_AUTH_TOKEN": "f" * 32,
        "HUB_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    }))
    assert "entrypoints.web" in modules and "channels.email.sender" in modules  # the app was built
    countries = {m for m in modules if m.startswith("holidays.countries.")}
    assert countries == {"holidays.countries.spain"}  # HUB_HOLIDAYS checked with its one country
    for heavy in ("holidays.countries", "httpx", "rich", "aiosmtplib", "nh3", "openpyxl"):
        assert heavy not in modules, heavy


CALENDAR = """
import json, sys
from hub.calendar import _public_holidays, parse_holidays
source = parse_holidays("es-ct,2026-09-29")
days = _public_holidays(source.country, source.subdivision, 2026, "ca")
print(json.dumps({"source": [source.country, source.subdivision],
                  "days": {d.isoformat(): name for d, name in days.items()},
                  "countries": sorted(m for m in sys.modules if m.startswith("holidays.countries"))}))
"""


def test_one_country_gives_the_same_holidays_as_the_library_loading_them_all() -> None:
    import holidays

    got = _fresh_python(CALENDAR, {"PYTHONPATH": str(ROOT)})
    assert got["source"] == ["ES", "CT"]
    assert got["countries"] == ["holidays.countries.spain"]
    library = holidays.country_holidays("ES", subdiv="CT", years=2026, language="ca")
    assert got["days"] == {d.isoformat(): name for d, name in library.items()}
    assert got["days"]["2026-09-11"] == "Diada Nacional de Catalunya"
