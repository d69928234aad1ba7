"""Delivering several outbox rows in one job (`do_deliver_many`): each row by the one-row policy,
each citizen's rows in order, one row's trouble its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlmodel import select

from hub import events as ev
from hub.actions.agents import do_create_agent
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.outbox import claim_delivery
from hub.channel_rules import ChannelRules, register
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Message, Outbox
from hub.delivery import Delivered, OutboundMessage, PermanentError, TransientError, register_sender
from hub.inbound import IdentityIn, InboundMessage

CHANNEL = "outbox-batch-test"


@pytest.fixture(autouse=True, scope="module")
def _test_channel() -> Iterator[None]:
    from hub import channel_rules

    register(ChannelRules(CHANNEL))
    yield
    channel_rules._RULES.pop(CHANNEL, None)


class Provider:
    """Answers by the message's text ('no': refused for good, 'busy': try later, 'boom': a bug),
    a short while after being asked; records who was on their way when."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.log: list[tuple[str, int, int]] = []  # ("start" | "end", contact, outbox id)
        self.on_the_way = 0
        self.most_at_once = 0

    async def deliver(self, message: OutboundMessage, ctx: HubContext) -> Delivered:
        self.log.append(("start", message.contact_id, message.outbox_id))
        self.on_the_way += 1
        self.most_at_once = max(self.most_at_once, self.on_the_way)
        try:
            await asyncio.sleep(0.01)
            if message.body == "no":
                raise PermanentError("recipient does not exist", code="X404")
            if message.body == "busy":
                raise TransientError("provider busy")
            if message.body == "boom":
                raise RuntimeError("a bug in the sender")
            self.sent.append(message)
            return Delivered(provider_id=f"P-{message.message_id}", status="queued", meta={"n": message.outbox_id})
        finally:
            self.on_the_way -= 1
            self.log.append(("end", message.contact_id, message.outbox_id))


class AskableProvider(Provider):
    """A provider that can be asked what it holds (`hub.delivery.Lookup`), like Twilio."""

    async def already_sent(self, message: OutboundMessage, ctx: HubContext) -> list[Delivered]:
        return []


async def _queue(ctx: HubContext, clock: FakeClock, bodies: dict[int, list[str]]) -> list[int]:
    """Each citizen (a number) writes once; an agent answers with `bodies[citizen]`, in order."""
    agent = await do_create_agent(ctx, "a@oac.example", "Agent One", "agent", "password123")
    for citizen, texts in bodies.items():
        got = await do_receive_message(ctx, InboundMessage(
            channel=CHANNEL, provider_id=f"in-{citizen}", received_at=clock.now(), body="hello",
            identities=[IdentityIn("phone", f"+3460000{citizen:04d}")],
        ))
        assert got.ticket_id is not None
        for text in texts:
            await do_reply(ctx, got.ticket_id, agent, text)
    async with ctx.sessionmaker() as s:
        return [i for i in (await s.exec(select(Outbox.id).order_by(Outbox.id))).all() if i is not None]


async def _rows(ctx: HubContext) -> dict[int, tuple[Outbox, Message]]:
    async with ctx.sessionmaker() as s:
        rows = (await s.exec(select(Outbox, Message).where(Outbox.message_id == Message.id))).all()
    return {o.id: (o, m) for o, m in rows if o.id is not None}


@pytest.fixture(autouse=True)
def _restore_sender() -> Iterator[None]:
    yield
    register_sender(CHANNEL, Provider())


async def test_a_job_sends_each_row_once_and_marks_each_sent(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_all

    provider = AskableProvider()
    register_sender(CHANNEL, provider)
    ids = await _queue(runtime, clock, {n: ["ok"] for n in range(12)})
    announced: list[ev.Announcement] = []
    runtime.bus.react({ev.MessageStatusChanged: (announced.extend,)})

    assert await deliver_all(ids) == {i: "sent" for i in ids}
    assert sorted(m.outbox_id for m in provider.sent) == ids
    for outbox_id, (row, message) in (await _rows(runtime)).items():
        assert (row.status, row.attempts, row.lease_until, row.uncertain) == ("sent", 1, None, False)
        assert (message.status, message.provider_id) == ("queued", f"P-{message.id}")
        assert message.meta.get("n") == outbox_id  # what the sender said is kept with the message
    assert sorted(e.message_id for e in announced) == sorted(m.message_id for m in provider.sent)  # type: ignore[attr-defined]
    assert 1 < provider.most_at_once  # different citizens' rows went at the same time

    assert await deliver_all(ids) == {i: "skipped" for i in ids}  # a repeated job sends nothing again
    assert len(provider.sent) == len(ids)


async def test_each_citizens_rows_go_one_after_the_other_in_the_order_queued(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_all

    provider = AskableProvider()
    register_sender(CHANNEL, provider)
    ids = await _queue(runtime, clock, {n: ["first", "second", "third"] for n in range(4)})
    assert set((await deliver_all(list(reversed(ids)))).values()) == {"sent"}  # the job's own order does not matter
    by_citizen: dict[int, list[tuple[str, int]]] = {}
    for what, contact, outbox_id in provider.log:
        by_citizen.setdefault(contact, []).append((what, outbox_id))
    assert len(by_citizen) == 4
    for steps in by_citizen.values():
        mine = sorted({i for _, i in steps})
        assert steps == [(what, i) for i in mine for what in ("start", "end")]  # in order, never two at once
    assert [m.body for m in sorted(provider.sent, key=lambda m: m.outbox_id)][:3] == ["first", "second", "third"]


async def test_a_sender_that_cannot_ask_its_provider_gets_one_row_at_a_time(runtime: HubContext, clock: FakeClock) -> None:
    """A crash interrupts no more of its sends than one per job (they would be sent again)."""
    from runtime.tasks import deliver_all

    provider = Provider()  # no `already_sent`: like SMTP
    register_sender(CHANNEL, provider)
    ids = await _queue(runtime, clock, {n: ["ok"] for n in range(5)})
    assert await deliver_all(ids) == {i: "sent" for i in ids}
    assert provider.most_at_once == 1


async def test_one_rows_failure_neither_fails_nor_resends_the_others(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_all

    provider = AskableProvider()
    register_sender(CHANNEL, provider)
    ids = await _queue(runtime, clock, {0: ["ok", "no", "ok"], 1: ["busy", "ok"], 2: ["boom"], 3: ["ok"]})
    outcomes = await deliver_all(ids)
    rows = await _rows(runtime)
    assert sorted(outcomes.values()) == ["failed", "retrying", "retrying", "sent", "sent", "sent", "sent"]
    for outbox_id in ids:
        row, message = rows[outbox_id]
        expected = {"ok": ("sent", "queued"), "no": ("failed", "failed"), "busy": ("pending", "queued"),
                    "boom": ("pending", "queued")}[message.body]
        assert (row.status, message.status) == expected, (message.body, row, message)
        assert row.attempts == 1
    assert sorted(m.body for m in provider.sent) == ["ok", "ok", "ok", "ok"]  # each sent once


async def test_a_row_not_due_or_held_by_another_worker_is_left_to_it(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_all

    provider = AskableProvider()
    register_sender(CHANNEL, provider)
    ids = await _queue(runtime, clock, {n: ["ok"] for n in range(3)})
    assert await claim_delivery(runtime, ids[1]) is not None  # another worker is sending it
    assert await deliver_all(ids) == {ids[0]: "sent", ids[1]: "skipped", ids[2]: "sent"}
    assert sorted(m.outbox_id for m in provider.sent) == [ids[0], ids[2]]


async def test_the_rows_one_commit_queued_leave_in_one_broker_message(runtime: HubContext) -> None:
    from dramatiq import get_broker

    from runtime import reactions, tasks

    broker = get_broker()
    broker.flush_all()
    reactions.deliver([ev.MessageQueued(i, message_id=100 + i) for i in range(1, 8)])
    reactions.deliver([ev.MessageQueued(9, message_id=109)])
    queued = [m for m in broker.queues[tasks.deliver_many.queue_name].queue if m is not None]
    assert [(m.actor_name, m.args) for m in (queued_message(q) for q in queued)] == [
        ("deliver_many", ([1, 2, 3, 4, 5, 6, 7],)), ("deliver", (9,)),
    ]


def queued_message(raw: bytes) -> object:
    from dramatiq import Message as BrokerMessage

    return BrokerMessage.decode(raw)


async def test_sends_the_provider_could_not_find_again_go_one_at_a_time_each_marked_first(
    runtime: HubContext, clock: FakeClock,
) -> None:
    """Like a WhatsApp template: a crash must leave at most one such send per job unrecorded."""
    from runtime.tasks import deliver_all

    class Templates(AskableProvider):
        def __init__(self) -> None:
            super().__init__()
            self.unmarked_at_start: list[int] = []

        def finds(self, message: OutboundMessage) -> bool:
            return message.body != "template"

        async def deliver(self, message: OutboundMessage, ctx: HubContext) -> Delivered:
            if message.body == "template":
                earlier = [m.outbox_id for m in self.sent if m.body == "template"]
                rows = await _rows(ctx)
                self.unmarked_at_start.append(sum(1 for i in earlier if rows[i][0].status != "sent"))
            return await super().deliver(message, ctx)

    provider = Templates()
    register_sender(CHANNEL, provider)
    ids = await _queue(runtime, clock, {n: ["template" if n % 2 else "text"] for n in range(10)})
    assert await deliver_all(ids) == {i: "sent" for i in ids}
    assert provider.unmarked_at_start == [0] * 5  # each began once the one before was marked sent
    assert provider.most_at_once > 1  # the texts still went together
