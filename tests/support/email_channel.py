"""Mail channel fixtures: a real Dovecot (one per session, one folder per test) and a real
aiosmtpd sink (one per test), with the mail channel configured to use both where production
configures it: in the environment its settings (`channels/email/config.py`) are read from."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import select

from channels.email.config import MailSettings, load_mail_settings
from hub.config import Settings
from hub.context import HubContext
from tests.conftest import mail_env, make_settings
from tests.support import mailservers, services

FIXTURES = Path(__file__).parent / "email_fixtures"
OFFICE = "oac360@paeria.cat"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[mailservers.Dovecot]:
    services.require_dovecot()
    with mailservers.dovecot() as server:
        yield server


@pytest.fixture
def folder(dovecot_server: mailservers.Dovecot) -> str:
    """A fresh IMAP folder for this test (the session's Dovecot is shared)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    dovecot_server.create(name)
    return name


@pytest.fixture
def smtp() -> Iterator[mailservers.SmtpSink]:
    with mailservers.smtp_sink() as sink:
        yield sink


def mailbox_env(monkeypatch: pytest.MonkeyPatch, smtp: mailservers.SmtpSink,
                server: mailservers.Dovecot | None = None, **overrides: object) -> None:
    """Point the mail channel at `smtp` with the office's From address (and at `server`'s
    mailbox) in the environment the hub reads it from, restored after the test; `overrides`
    set more of the channel's settings."""
    mail_env(monkeypatch, **{"mail_from": f"OAC Lleida <{OFFICE}>", **smtp.settings(),
                             **(server.settings() if server is not None else {}), **overrides})


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: mailservers.SmtpSink, monkeypatch: pytest.MonkeyPatch) -> Settings:
    mailbox_env(monkeypatch, smtp)
    return make_settings(tmp_path, db_url)


def mail_settings(**overrides: object) -> MailSettings:
    """The mail channel's settings as the hub reads them (the environment the fixtures set), with
    quick polling for tests and these overrides."""
    base: dict[str, object] = dict(_env_file=None, imap_idle=False, imap_poll_interval="1s", imap_timeout="10s")
    base.update(overrides)
    return load_mail_settings(**base)


async def rows(ctx: HubContext, table, *where):  # type: ignore[no-untyped-def]
    async with ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where))).all())


def simple(n: int, sender: str = "citizen@example.cat") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, "oac360@paeria.cat"
    msg["Subject"], msg["Message-ID"] = f"Consulta {n}", f"<c{n}.{time.time_ns()}@example.cat>"
    msg.set_content(f"Consulta número {n}")
    return msg


@pytest.fixture
def imap_ctx(ctx: HubContext, smtp: mailservers.SmtpSink, dovecot_server: mailservers.Dovecot,
             monkeypatch: pytest.MonkeyPatch) -> HubContext:
    """A context whose mail channel reads the session's Dovecot (see `mail_settings`)."""
    mailbox_env(monkeypatch, smtp, dovecot_server)
    return ctx
