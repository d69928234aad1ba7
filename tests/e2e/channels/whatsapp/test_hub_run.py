"""The real `hub run` process with real timers of a few seconds, Twilio played by the fake."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import fake_twilio, services
from tests.support.fake_twilio import FakeTwilio

ROOT = Path(__file__).resolve().parents[4]
pytestmark = pytest.mark.slow


def _wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_hub_run_welcomes_reminds_and_closes_with_real_timers(tmp_path: Path, twilio: FakeTwilio) -> None:
    port = services.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(ROOT), HUB_DATA_DIR=str(tmp_path / "var"), HUB_PUBLIC_URL=base,
        HUB_TWILIO_ACCOUNT_SID=twilio.account_sid, HUB_TWILIO_AUTH_TOKEN=twilio.auth_token,
        HUB_TWILIO_WHATSAPP_FROM="whatsapp:+14155238886", HUB_TWILIO_API_URL=twilio.url,
        HUB_WHATSAPP_REMINDER_AFTER="2s", HUB_WHATSAPP_CLOSE_AFTER="2s", HUB_LOG_LEVEL="WARNING",
        HUB_OFFICE_HOURS="always",
    )
    proc = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", "--port", str(port)], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None and pytest.fail(proc.stdout.read().decode())  # type: ignore[union-attr]
        _wait_for(healthy, 30, "hub run to serve")

        path = "/webhooks/twilio/whatsapp"
        bad = httpx.post(base + path, data=fake_twilio.inbound_form("SMbad", "Hola"),
                         headers={"X-Twilio-Signature": "AAAA"})
        assert bad.status_code == 403
        sent_at = time.monotonic()
        r = fake_twilio.post_webhook(base, base, path, fake_twilio.inbound_form("SM1", "Hola", number="+34600000001"))
        assert r.status_code == 200 and "<Response" in r.text
        # A second citizen answers at once: identified, no reminder for them.
        fake_twilio.post_webhook(base, base, path, fake_twilio.inbound_form("SM2", "Hola", number="+34600000002"))
        _wait_for(lambda: len(twilio.sent()) >= 2, 10, "the two welcomes")
        fake_twilio.post_webhook(base, base, path, fake_twilio.inbound_form("SM3", "Em dic Pau", number="+34600000002"))

        def to(number: str) -> list[str]:
            return [r.value("Body") or "" for r in twilio.sent() if r.value("To") == f"whatsapp:{number}"]

        _wait_for(lambda: len(to("+34600000001")) >= 2, 20, "the reminder")
        assert time.monotonic() - sent_at >= 2.0  # never before its time
        assert "Reprenem el contacte" in to("+34600000001")[1]
        _wait_for(lambda: len(to("+34600000001")) >= 3, 20, "the close message")
        assert time.monotonic() - sent_at >= 4.0
        assert "contactar de nou" in to("+34600000001")[2]
        assert len(to("+34600000002")) == 1  # identified in time: no reminder, no close

        # A photo: the worker fetches it from Twilio with the account's credentials and stores it.
        url = twilio.add_media("ME1", b"\xff\xd8\xff photo", "image/jpeg")
        fake_twilio.post_webhook(base, base, path, fake_twilio.inbound_form(
            "SM4", "", number="+34600000002", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"))

        def attachment_status() -> str | None:
            with sqlite3.connect(tmp_path / "var" / "hub.sqlite3") as db:
                row = db.execute("SELECT status FROM attachments").fetchone()
            return row[0] if row and row[0] != "pending" else None
        assert _wait_for(attachment_status, 20, "the media to be fetched") == "stored"

        # Twilio's status callbacks reach the running hub, signed, and are applied.
        welcome_sid = twilio.sent()[0].sid
        assert welcome_sid
        for status in ("read", "delivered"):
            r = fake_twilio.post_webhook(base, base, "/webhooks/twilio/status", fake_twilio.status_form(welcome_sid, status))
            assert r.status_code == 200
        with sqlite3.connect(tmp_path / "var" / "hub.sqlite3") as db:
            [(status,)] = db.execute("SELECT status FROM messages WHERE provider_id = ?", (welcome_sid,)).fetchall()
        assert status == "read"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
