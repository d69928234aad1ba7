"""No secret in the logs, at DEBUG level, for a flow through the web app in-process.

(tests/e2e/faults/test_secrets_in_logs.py checks the real processes' output.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.support.agent_ui import PASSWORD, Logins, login
from tests.support import fake_twilio
from tests.support.cookies import csrf_token, session_cookie


def test_no_secret_in_debug_logs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, logins: Logins) -> None:
    from entrypoints.web import create_app
    from tests.conftest import make_settings, whatsapp_env

    whatsapp_env(monkeypatch, twilio_account_sid=fake_twilio.ACCOUNT_SID, twilio_auth_token=fake_twilio.AUTH_TOKEN,
                 twilio_whatsapp_from=fake_twilio.WHATSAPP_FROM)
    settings = make_settings(tmp_path, db_url)
    app = create_app(settings)
    # The app's logging setup may stop propagation: listen on every logger, at DEBUG.
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    loggers = [logging.getLogger()] + [l for l in logging.root.manager.loggerDict.values() if isinstance(l, logging.Logger)]
    levels = [(l, l.level) for l in loggers]
    for l in loggers:
        l.addHandler(handler)
        l.setLevel(logging.DEBUG)
    wrong = "Wrong-Passw0rd-4410"
    with TestClient(app, base_url="https://hub.example.org") as client:
        login(client, "agent@example.org", password=wrong)
        login(client, "agent@example.org")
        session = session_cookie(client)
        csrf = csrf_token(client)
        token = client.post("/api/v1/auth/token", json={"email": "agent@example.org", "password": PASSWORD}).json()["token"]
        assert client.get("/api/v1/queue", headers={"authorization": f"Bearer {token}"}).status_code == 200
        form = fake_twilio.inbound_form("SMlogs0000000000000000000000000001", "Hola")
        signature = fake_twilio.sign(fake_twilio.AUTH_TOKEN, "https://hub.example.org/webhooks/twilio/whatsapp", form)
        r: Any = client.post("/webhooks/twilio/whatsapp", data=form, headers={"X-Twilio-Signature": signature})
        assert r.status_code == 200
    for l, level in levels:
        l.removeHandler(handler)
        l.setLevel(level)
    logs = "\n".join(f"{rec.getMessage()} {rec.__dict__!r}" for rec in records)
    secrets = {"password": PASSWORD, "wrong password": wrong, "token": token, "session id": session,
               "csrf": csrf, "signature": signature, "twilio token": fake_twilio.AUTH_TOKEN,
               "secret key": settings.secret_key}
    assert len(records) > 5
    assert not [name for name, value in secrets.items() if value and value in logs]
