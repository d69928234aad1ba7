"""Where the poller stands in each mailbox (`mailbox_state`), and how it is doing.

The row is channel bookkeeping, not ticket data, so the channel writes it itself. `last_uid`
only moves after the tickets of every mail up to it are committed; a crash in between means
those mails are fetched again and recognised as duplicates by their Message-ID.

`MailboxStatus` is the in-process view for operators: a readiness probe for `/readyz` and
Prometheus metrics for `/metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge
from sqlmodel import select

from hub.context import HubContext
from hub.db.tables import MailboxState

IMPORTED = Counter("hub_mail_imported", "Mails taken from the mailbox, by outcome", ["outcome"])
LOGIN_FAILURES = Counter("hub_mailbox_login_failures", "IMAP logins the server refused")
CONNECTION_ERRORS = Counter("hub_mailbox_connection_errors", "IMAP sessions that ended in an error")
UP = Gauge("hub_mailbox_up", "1 while the poller is connected and logged in")


@dataclass
class Position:
    uidvalidity: int
    last_uid: int


async def load_position(ctx: HubContext, mailbox: str) -> Position | None:
    async with ctx.sessionmaker() as session:
        row = (await session.exec(select(MailboxState).where(MailboxState.mailbox == mailbox))).first()
    return Position(row.uidvalidity, row.last_uid) if row is not None else None


async def save_position(ctx: HubContext, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    await _update(ctx, mailbox, uidvalidity=uidvalidity, last_uid=last_uid, last_error=None, ok=True)


async def save_error(ctx: HubContext, mailbox: str, error: str) -> None:
    await _update(ctx, mailbox, last_error=error[:500])


async def _update(ctx: HubContext, mailbox: str, ok: bool = False, **values: object) -> None:
    now = ctx.clock.now()
    async with ctx.sessionmaker() as session:
        row = (await session.exec(select(MailboxState).where(MailboxState.mailbox == mailbox))).first()
        if row is None:
            row = MailboxState(mailbox=mailbox, updated_at=now)
        for key, value in values.items():
            setattr(row, key, value)
        if ok:
            row.last_ok_at = now
        row.updated_at = now
        session.add(row)
        await session.commit()


class MailboxStatus:
    """The poller's health as operators see it."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.connected = False
        self.active = False  # holds the lock (another poller may be the active one)

    def ok(self) -> None:
        self.error = None
        self.connected = True
        UP.set(1)

    def failed(self, error: str, login: bool = False) -> None:
        self.error = error
        self.connected = False
        UP.set(0)
        (LOGIN_FAILURES if login else CONNECTION_ERRORS).inc()

    def disconnected(self) -> None:
        self.connected = False
        UP.set(0)

    def probe(self) -> str:
        """For `app.state.readiness_probes`: "ok", or what is wrong with the mailbox."""
        return "ok" if self.error is None else f"mailbox: {self.error}"


STATUS = MailboxStatus()
