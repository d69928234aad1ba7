"""Actions write state, events and outbox rows together or not at all."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from hub.actions.messages import do_receive_message
from hub.actions.unit import UnitOfWork
from hub import events
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Contact, EventRow, Identity, Message, Outbox, Ticket
from hub.inbound import IdentityIn, InboundMessage
from tests.conftest import make_settings


async def _counts(ctx: HubContext) -> dict[str, int]:
    out = {}
    async with ctx.sessionmaker() as s:
        for table in (Contact, Identity, Ticket, Message, EventRow, Outbox):
            out[table.__tablename__] = (await s.exec(select(func.count()).select_from(table))).one()
    return out


async def test_a_failure_between_writes_leaves_nothing_behind(
    any_db_url: str, tmp_path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    ctx = HubContext.create(make_settings(tmp_path, any_db_url), clock)
    heard: list[events.Announcement] = []
    ctx.bus.listen(heard.extend)
    try:
        async def broken_queue_delivery(self: UnitOfWork, message: Message) -> Outbox:
            raise RuntimeError("disk full while writing the outbox")

        monkeypatch.setattr(UnitOfWork, "queue_delivery", broken_queue_delivery)
        message = InboundMessage(
            channel="whatsapp", provider_id="SM-atomic", received_at=clock.now(), body="hola",
            identities=[IdentityIn("phone", "+34600999888")],
        )
        with pytest.raises(RuntimeError):
            await do_receive_message(ctx, message)
        assert await _counts(ctx) == dict.fromkeys(
            ["contacts", "identities", "tickets", "messages", "events", "outbox"], 0
        )
        assert heard == []  # nothing was announced for a rolled-back change
        monkeypatch.undo()
        # The same message, retried, goes through whole.
        await do_receive_message(ctx, message)
        counts = await _counts(ctx)
        assert counts["tickets"] == 1 and counts["outbox"] == 1 and counts["messages"] == 2
        assert {type(e) for e in heard} >= {events.TicketCreated, events.MessageQueued, events.MessageReceived}
    finally:
        await ctx.close()
