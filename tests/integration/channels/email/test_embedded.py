"""`hub run` (the embedded app) polls the mailbox when IMAP is configured."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import create_engine, text

from hub.config import Settings
from tests.conftest import make_settings
from tests.support.email_channel import fixture, mailbox_env
from tests.support import mailservers


def count_tickets(settings: Settings) -> int:
    engine = create_engine(settings.effective_database_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM tickets WHERE channel = 'email'")).scalar() or 0)
    finally:
        engine.dispose()


def test_the_embedded_app_runs_the_mailbox_poller(
    tmp_path: Path, db_url: str, smtp: mailservers.SmtpSink, dovecot_server: mailservers.Dovecot,
    monkeypatch: Any,
) -> None:
    from entrypoints.web import create_app

    if not db_url.startswith("sqlite"):
        import pytest

        pytest.skip("the sync count below reads SQLite; the poller itself is covered on both backends")
    mailbox_env(monkeypatch, smtp, dovecot_server, imap_poll_interval="1s")
    settings = make_settings(tmp_path, db_url)
    dovecot_server.append(fixture("utf8_plain.eml").replace(b"utf8-plain-1@", b"embedded-1@"))
    app = create_app(settings, embedded=True)
    with TestClient(app):
        deadline = time.monotonic() + 20
        while count_tickets(settings) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert count_tickets(settings) == 1


def test_a_mailbox_login_failure_shows_in_readyz_and_metrics_and_the_app_keeps_running(
    tmp_path: Path, db_url: str, smtp: mailservers.SmtpSink, dovecot_server: mailservers.Dovecot,
    monkeypatch: Any,
) -> None:
    from entrypoints.web import create_app
    from channels.email.state import STATUS

    mailbox_env(monkeypatch, smtp, dovecot_server, imap_password="wrong", imap_backoff_max="1s")
    settings = make_settings(tmp_path, db_url)
    STATUS.error = None
    settings.metrics_token = "metrics-token-1"
    app = create_app(settings, embedded=True)
    try:
        with TestClient(app) as client:
            deadline = time.monotonic() + 20
            while STATUS.error is None and time.monotonic() < deadline:
                time.sleep(0.1)
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["mailbox"].startswith("mailbox: login refused for oac360")
            metrics = client.get("/metrics", headers={"authorization": "Bearer metrics-token-1"}).text
            assert "hub_mailbox_login_failures_total" in metrics and "hub_mailbox_up 0.0" in metrics
            assert client.get("/healthz").status_code == 200  # alive: the failure is not fatal
    finally:
        STATUS.error = None


def test_a_bad_mail_setting_stops_hub_run_with_a_message_naming_it(
    tmp_path: Path, monkeypatch: Any, capsys: Any,
) -> None:
    from entrypoints.cli import main

    monkeypatch.chdir(tmp_path)
    for name, value in {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_DATABASE_URL": "", "HUB_IMAP_HOST": "127.0.0.1",
                        "HUB_IMAP_USER": "oac360", "HUB_IMAP_PROCESSED": "delete-everything"}.items():
        monkeypatch.setenv(name, value)
    import logging

    handlers, level = logging.root.handlers[:], logging.root.level
    try:
        assert main(["run", "--port", "0"]) == 2
    finally:  # main() configures logging on pytest's captured stream: put it back
        logging.root.handlers[:], logging.root.level = handlers, level
    assert "HUB_IMAP_PROCESSED: Value error, expected keep, seen or move:<folder>" in capsys.readouterr().err
