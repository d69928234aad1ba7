"""A WhatsApp send cut off by a dead worker: before sending again, the hub asks Twilio.

The fake Twilio keeps a message from the moment its request arrives (as Twilio does) and answers
the Messages list filtered by `To` and `DateSent` like Twilio documents it. The hub clock is
the wall clock's today here, as the list filters by GMT day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from channels.whatsapp.sender import LOOKUP_SKEW
from hub.actions.messages import do_process_inbox, pending_inbox_ids
from hub.actions.outbox import claim_delivery
from hub.clock import FakeClock
from hub.db.tables import Message, Outbox
from hub.delivery import sender_for
from tests.support.whatsapp_channel import Hub
from tests.support.fake_twilio import FakeTwilio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


async def _welcome_claimed_by_a_worker_that_dies(hub: Hub) -> tuple[int, object]:
    hub.inbound("SM1", "Hola")
    for inbox_id in await pending_inbox_ids(hub.ctx):
        await do_process_inbox(hub.ctx, inbox_id)
    async with hub.ctx.sessionmaker() as s:
        [row] = (await s.exec(select(Outbox))).all()
    claimed = await claim_delivery(hub.ctx, row.id or 0)
    assert claimed is not None and not claimed.interrupted
    return row.id or 0, claimed


def _lookups(twilio: FakeTwilio) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r.path).query) for r in twilio.requests if r.method == "GET" and "/Messages.json" in r.path]


async def test_a_send_that_reached_twilio_before_the_crash_is_recorded_not_repeated(hub: Hub, twilio: FakeTwilio) -> None:
    from runtime.tasks import deliver_one

    outbox_id, claimed = await _welcome_claimed_by_a_worker_that_dies(hub)
    first = await sender_for("whatsapp").deliver(claimed, hub.ctx)  # type: ignore[union-attr,arg-type]  # Twilio has it; the worker dies
    hub.clock.advance(hub.ctx.settings.outbox_lease + timedelta(seconds=1))
    assert await deliver_one(outbox_id) == "sent"
    assert len(twilio.attempts()) == 1  # not sent again
    async with hub.ctx.sessionmaker() as s:
        [row] = (await s.exec(select(Outbox))).all()
        [welcome] = (await s.exec(select(Message).where(Message.direction == "out"))).all()
    [query] = _lookups(twilio)
    # From the GMT day the welcome was written, a few minutes' clock skew allowed (the day before,
    # in the first minutes after midnight).
    since = (welcome.created_at - LOOKUP_SKEW).strftime("%Y-%m-%d")
    assert query["To"] == ["whatsapp:+34600111222"] and query["DateSent>"] == [since]
    assert row.status == "sent" and row.attempts == 2
    assert welcome.provider_id == first.provider_id and welcome.meta.get("recovered") is True


async def test_a_send_that_never_reached_twilio_is_sent_after_the_crash(hub: Hub, twilio: FakeTwilio) -> None:
    from runtime.tasks import deliver_one

    outbox_id, _ = await _welcome_claimed_by_a_worker_that_dies(hub)  # killed before its request left
    hub.clock.advance(hub.ctx.settings.outbox_lease + timedelta(seconds=1))
    assert await deliver_one(outbox_id) == "sent"
    assert len(twilio.attempts()) == 1 and len(_lookups(twilio)) == 1
    async with hub.ctx.sessionmaker() as s:
        [welcome] = (await s.exec(select(Message).where(Message.direction == "out"))).all()
    assert welcome.provider_id == twilio.attempts()[0].sid and "recovered" not in welcome.meta


async def test_when_twilio_cannot_be_asked_the_message_waits_rather_than_repeats(hub: Hub, twilio: FakeTwilio) -> None:
    from runtime.tasks import deliver_one

    outbox_id, claimed = await _welcome_claimed_by_a_worker_that_dies(hub)
    await sender_for("whatsapp").deliver(claimed, hub.ctx)  # type: ignore[union-attr,arg-type]
    hub.clock.advance(hub.ctx.settings.outbox_lease + timedelta(seconds=1))
    twilio.fail_next(503, 20503, "Service unavailable")  # the list call fails
    assert await deliver_one(outbox_id) == "retrying"
    assert len(twilio.attempts()) == 1
    hub.clock.advance(minutes=1)
    assert await deliver_one(outbox_id) == "sent"  # asked again, and this time Twilio answers
    assert len(twilio.attempts()) == 1 and len(_lookups(twilio)) == 2


async def test_twilio_can_find_a_text_again_but_not_a_file_sent_alone(hub: Hub) -> None:
    """What decides whether a batch may have this send on the wire beside others (hub.actions.deliver)."""
    from dataclasses import replace

    _, claimed = await _welcome_claimed_by_a_worker_that_dies(hub)
    sender = sender_for("whatsapp")
    assert sender.finds(claimed)  # type: ignore[union-attr]  # a text: matched on its body
    file_alone = replace(claimed, body="", attachments=[  # type: ignore[type-var]
        {"id": 1, "filename": "a.pdf", "content_type": "application/pdf", "storage_key": "k", "size": 1, "sha256": "ab"}])
    assert not sender.finds(file_alone)  # type: ignore[union-attr]
