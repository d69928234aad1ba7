"""The database-derived metrics read what the actions wrote, and /metrics serves them."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.messages import do_receive_message
from hub.actions.outbox import fail_delivery
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Outbox
from hub.inbound import IdentityIn, InboundMessage
from runtime import metrics
from sqlmodel import select


def whatsapp(clock: FakeClock, sid: str, body: str, number: str) -> InboundMessage:
    return InboundMessage(channel="whatsapp", provider_id=sid, received_at=clock.now(), body=body,
                          identities=[IdentityIn("phone", number)], display_hint="Profile")


def value(name: str, **labels: str) -> float:
    got = REGISTRY.get_sample_value(name, labels)
    return 0.0 if got is None else got


async def scrape(ctx: HubContext) -> None:
    metrics._refreshed_at = 0.0  # skip the cache: this test moves the clock, not time
    await metrics.refresh(ctx)


async def test_queue_outbox_timers_agents_and_failures_come_from_the_database(ctx: HubContext, clock: FakeClock) -> None:
    metrics.reset_for_tests()
    await scrape(ctx)
    inbound_before = value("hub_inbound_messages_total", channel="whatsapp")

    # Ticket 1 stays unidentified: its reminder timer is due at +20 min.
    await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola", "+34600000001"))
    # Ticket 2 answers with a name at +2 min and waits in the queue.
    await do_receive_message(ctx, whatsapp(clock, "SM2", "Bon dia", "+34600000002"))
    clock.advance(minutes=2)
    await do_receive_message(ctx, whatsapp(clock, "SM3", "Em dic Anna Serra", "+34600000002"))
    agent = await do_create_agent(ctx, "marta@oac.example", "Marta", "agent", "password123")
    await do_set_presence(ctx, agent, "available")
    async with ctx.sessionmaker() as s:
        outbox = list((await s.exec(select(Outbox).order_by(Outbox.id))).all())
    await fail_delivery(ctx, outbox[0].id, "63016", "outside the 24-hour window")

    clock.advance(minutes=23)  # now +25 min: ticket 1's reminder is 5 min late
    await scrape(ctx)

    assert value("hub_queue_length", channel="whatsapp") == 1
    assert value("hub_queue_longest_wait_seconds") == 23 * 60
    assert value("hub_timers_due", kind="reminder") == 1
    assert value("hub_timers_late", kind="reminder") == 1
    assert value("hub_agents_available") == 1
    pending = len(outbox) - 1
    assert pending >= 1 and value("hub_outbox_pending", channel="whatsapp") == pending
    assert value("hub_outbox_oldest_pending_age_seconds") == 25 * 60
    assert value("hub_delivery_failures", channel="whatsapp", reason="63016") == 1
    assert value("hub_inbound_messages_total", channel="whatsapp") == inbound_before + 3

    # A timer only just due is due but not late (the target is 2 s).
    clock.advance(minutes=-5, seconds=1)
    await scrape(ctx)
    assert value("hub_timers_due", kind="reminder") == 1
    assert value("hub_timers_late", kind="reminder") == 0


async def test_metrics_are_cached_between_scrapes(ctx: HubContext, clock: FakeClock) -> None:
    metrics.reset_for_tests()
    await scrape(ctx)
    assert value("hub_queue_length", channel="whatsapp") == 0
    await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola", "+34600000001"))
    await metrics.refresh(ctx)  # within CACHE_S: the database is not read again
    assert value("hub_outbox_pending", channel="whatsapp") == 0
    await scrape(ctx)
    assert value("hub_outbox_pending", channel="whatsapp") == 1
