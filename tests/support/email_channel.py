"""Mail channel fixtures: a real Dovecot (one per session, one folder per test) and a real
aiosmtpd sink (one per test), with the hub configured to use both."""

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
from tests.conftest import make_settings
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


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: mailservers.SmtpSink) -> Settings:
    return make_settings(tmp_path, db_url, mail_from=f"OAC Lleida <{OFFICE}>", **smtp.settings())


def mail_settings(**overrides: object) -> MailSettings:
    base: dict[str, object] = dict(_env_file=None, imap_idle=False, imap_poll_interval="1s", imap_timeout="10s")
    base.update(overrides)
    return load_mail_settings(**base)


def imap_settings(tmp_path: Path, db_url: str, smtp: mailservers.SmtpSink, server: mailservers.Dovecot) -> Settings:
    return make_settings(tmp_path, db_url, mail_from=f"OAC Lleida <{OFFICE}>", **smtp.settings(), **server.settings())


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
def imap_ctx(ctx: HubContext, tmp_path: Path, db_url: str, smtp: mailservers.SmtpSink,
             dovecot_server: mailservers.Dovecot) -> HubContext:
    ctx.settings = imap_settings(tmp_path, db_url, smtp, dovecot_server)
    return ctx
