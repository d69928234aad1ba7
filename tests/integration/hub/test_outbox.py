"""Outbound delivery through the outbox: retries, visible failures, recovery of lost work."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from hub.actions.agents import do_create_agent
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.outbox import claim_delivery, stuck_deliveries
from hub.channel_rules import ChannelRules, register
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import EventRow, Message, Outbox
from hub.delivery import Delivered, OutboundMessage, PermanentError, TransientError, register_sender
from hub.inbound import IdentityIn, InboundMessage

CHANNEL = "outbox-test"


@pytest.fixture(autouse=True, scope="module")
def _test_channel() -> Iterator[None]:
    """The scripted channel exists only while these tests run (statistics list every known channel)."""
    from hub import channel_rules

    register(ChannelRules(CHANNEL))
    yield
    channel_rules._RULES.pop(CHANNEL, None)


class ScriptedSender:
    """A channel whose provider answers from a script: 'ok', 'busy' (transient) or 'no' (permanent)."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.sent: list[OutboundMessage] = []

    async def deliver(self, message: OutboundMessage, ctx: HubContext) -> Delivered:
        step = self.script.pop(0) if self.script else "ok"
        if step == "busy":
            raise TransientError("provider busy")
        if step == "no":
            raise PermanentError("recipient does not exist", code="X404")
        self.sent.append(message)
        return Delivered(provider_id=f"P-{message.message_id}-{message.attempt}")


async def _reply(ctx: HubContext, clock: FakeClock) -> int:
    agent = await do_create_agent(ctx, "a@oac.example", "Agent One", "agent", "password123")
    got = await do_receive_message(ctx, InboundMessage(
        channel=CHANNEL, provider_id="in-1", received_at=clock.now(), body="hello",
        identities=[IdentityIn("phone", "+34600000001")],
    ))
    assert got.ticket_id is not None
    await do_reply(ctx, got.ticket_id, agent, "answer")
    async with ctx.sessionmaker() as s:
        row = (await s.exec(select(Outbox))).one()
    assert row.id is not None
    return row.id


async def _state(ctx: HubContext, outbox_id: int) -> tuple[Outbox, Message]:
    async with ctx.sessionmaker() as s:
        row = await s.get(Outbox, outbox_id)
        assert row is not None
        msg = await s.get(Message, row.message_id)
        assert msg is not None
        return row, msg


async def test_a_transient_failure_is_retried_with_backoff(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    sender = ScriptedSender(["busy", "ok"])
    register_sender(CHANNEL, sender)
    outbox_id = await _reply(runtime, clock)
    assert await deliver_one(outbox_id) == "retrying"
    row, msg = await _state(runtime, outbox_id)
    assert (row.status, row.attempts, msg.status) == ("pending", 1, "queued")
    assert row.next_attempt_at == clock.now() + timedelta(seconds=2)
    assert await deliver_one(outbox_id) == "skipped"  # not due yet
    clock.advance(seconds=2)
    assert await deliver_one(outbox_id) == "sent"
    row, msg = await _state(runtime, outbox_id)
    assert (row.status, msg.status, msg.provider_id) == ("sent", "sent", f"P-{msg.id}-2")
    assert [m.body for m in sender.sent] == ["answer"]


async def test_a_permanent_failure_is_shown_with_its_reason(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    register_sender(CHANNEL, ScriptedSender(["no"]))
    outbox_id = await _reply(runtime, clock)
    assert await deliver_one(outbox_id) == "failed"
    row, msg = await _state(runtime, outbox_id)
    assert (row.status, msg.status, msg.error_code) == ("failed", "failed", "X404")
    assert msg.error_detail == "recipient does not exist"
    async with runtime.sessionmaker() as s:
        kinds = [(e.kind, e.data.get("status")) for e in (await s.exec(select(EventRow))).all()]
    assert ("message_status", "failed") in kinds


async def test_a_delivery_that_keeps_failing_ends_failed(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    attempts = runtime.settings.outbox_max_attempts
    register_sender(CHANNEL, ScriptedSender(["busy"] * (attempts + 5)))
    outbox_id = await _reply(runtime, clock)
    outcomes = []
    for _ in range(attempts + 2):
        outcomes.append(await deliver_one(outbox_id))
        clock.advance(minutes=15)
    assert outcomes[: attempts - 1] == ["retrying"] * (attempts - 1)
    assert outcomes[attempts - 1] == "failed"
    row, msg = await _state(runtime, outbox_id)
    assert row.status == "failed" and row.attempts == attempts
    assert msg.status == "failed" and "gave up after" in (msg.error_detail or "")


async def test_a_lost_broker_message_is_recovered_by_the_relay(runtime: HubContext, clock: FakeClock) -> None:
    from dramatiq import get_broker

    from runtime.scheduler import tick

    sender = ScriptedSender([])
    register_sender(CHANNEL, sender)
    outbox_id = await _reply(runtime, clock)
    broker = get_broker()
    broker.flush_all()  # the broker lost the delivery message
    assert await stuck_deliveries(runtime, runtime.settings.outbox_stuck_after) == []
    clock.advance(runtime.settings.outbox_stuck_after + timedelta(seconds=1))
    assert await stuck_deliveries(runtime, runtime.settings.outbox_stuck_after) == [outbox_id]
    counts = await tick(runtime)
    assert counts["relayed"] == 1
    [queued] = list(broker.queues["outbox"].queue)
    assert queued is not None
    from runtime.tasks import deliver_one

    assert await deliver_one(outbox_id) == "sent"
    assert len(sender.sent) == 1


async def test_a_worker_dying_mid_send_is_covered_by_the_lease(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    sender = ScriptedSender([])
    register_sender(CHANNEL, sender)
    outbox_id = await _reply(runtime, clock)
    claimed = await claim_delivery(runtime, outbox_id)  # a worker took it ... and died
    assert claimed is not None
    assert await claim_delivery(runtime, outbox_id) is None  # leased: nobody else sends it
    assert await deliver_one(outbox_id) == "skipped"
    clock.advance(runtime.settings.outbox_lease + timedelta(seconds=1))
    assert await stuck_deliveries(runtime, runtime.settings.outbox_stuck_after) == [outbox_id]
    assert await deliver_one(outbox_id) == "sent"
    row, _ = await _state(runtime, outbox_id)
    assert row.attempts == 2 and len(sender.sent) == 1


class LookupSender(ScriptedSender):
    """A provider that can be asked what it holds (like Twilio's Messages list)."""

    def __init__(self, holds: list[str] | Exception) -> None:
        super().__init__([])
        self.holds = holds
        self.asked: list[OutboundMessage] = []

    async def already_sent(self, message: OutboundMessage, ctx: HubContext) -> list[Delivered]:
        self.asked.append(message)
        if isinstance(self.holds, Exception):
            raise self.holds
        return [Delivered(provider_id=sid, status="sent") for sid in self.holds]


async def _interrupted(runtime: HubContext, clock: FakeClock) -> int:
    outbox_id = await _reply(runtime, clock)
    assert await claim_delivery(runtime, outbox_id) is not None  # a worker took it ... and was killed
    clock.advance(runtime.settings.outbox_lease + timedelta(seconds=1))
    return outbox_id


async def test_an_interrupted_send_the_provider_holds_is_adopted_not_repeated(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    # "in-1" is a message the hub already records (here the citizen's own): never adopted.
    sender = LookupSender(["in-1", "P-from-the-killed-worker"])
    register_sender(CHANNEL, sender)
    outbox_id = await _interrupted(runtime, clock)
    assert await deliver_one(outbox_id) == "sent"
    row, msg = await _state(runtime, outbox_id)
    assert sender.sent == [] and len(sender.asked) == 1 and sender.asked[0].interrupted
    assert row.status == "sent" and msg.provider_id == "P-from-the-killed-worker" and msg.meta.get("recovered") is True


async def test_an_interrupted_send_the_provider_never_got_is_sent(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    sender = LookupSender([])
    register_sender(CHANNEL, sender)
    outbox_id = await _interrupted(runtime, clock)
    assert await deliver_one(outbox_id) == "sent"
    assert len(sender.sent) == 1 and len(sender.asked) == 1


async def test_a_provider_that_cannot_say_delays_the_resend_instead_of_repeating(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    sender = LookupSender(TransientError("provider unreachable"))
    register_sender(CHANNEL, sender)
    outbox_id = await _interrupted(runtime, clock)
    assert await deliver_one(outbox_id) == "retrying"
    assert sender.sent == []
    row, _ = await _state(runtime, outbox_id)
    assert row.status == "pending" and "unreachable" in (row.last_error or "")


async def test_a_first_attempt_is_never_looked_up(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.tasks import deliver_one

    sender = LookupSender(["P-whatever"])
    register_sender(CHANNEL, sender)
    outbox_id = await _reply(runtime, clock)
    assert await deliver_one(outbox_id) == "sent"
    assert sender.asked == [] and len(sender.sent) == 1


async def test_a_slow_send_keeps_its_lease_while_it_lasts(runtime: HubContext, clock: FakeClock) -> None:
    import asyncio

    from runtime.tasks import deliver_one

    runtime.settings.outbox_lease = timedelta(seconds=0.3)  # renewed every 0.1 s

    class Slow(ScriptedSender):
        async def deliver(self, message: OutboundMessage, ctx: HubContext) -> Delivered:
            for _ in range(4):  # 0.6 s, the hub's clock moving 0.4 s: longer than the lease
                await asyncio.sleep(0.15)
                clock.advance(seconds=0.1)
                self.second_claim.append(await claim_delivery(runtime, message.outbox_id))
            return await super().deliver(message, ctx)

    sender = Slow([])
    sender.second_claim = []  # type: ignore[attr-defined]
    register_sender(CHANNEL, sender)
    outbox_id = await _reply(runtime, clock)
    assert await deliver_one(outbox_id) == "sent"
    assert sender.second_claim == [None] * 4  # type: ignore[attr-defined]  # nobody else could take it
    row, _ = await _state(runtime, outbox_id)
    assert row.attempts == 1 and len(sender.sent) == 1


@pytest.fixture(autouse=True)
def _restore_sender() -> object:
    yield
    register_sender(CHANNEL, ScriptedSender([]))
