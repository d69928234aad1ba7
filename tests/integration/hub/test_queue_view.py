"""The queue (`hub.views.queue`) is one statement; its answer is the one the lanes give when each is
read on its own: the rows of each lane in the lane's order, every count, and in my lane each
ticket's unread messages (after my seen marks) with the total over all my consultations.

The reference below reads every ticket and message as plain rows and sorts and counts in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from hub import views
from hub.actions.agents import do_create_agent
from hub.actions.lifecycle import do_assign
from hub.actions.messages import do_receive_message
from hub.actions.seen import do_mark_seen, do_mark_unseen
from hub.clock import FakeClock
from hub.context import HubContext
from hub.inbound import IdentityIn, InboundMessage

OWNED = ("assigned", "pending")


async def receive(ctx: HubContext, clock: FakeClock, channel: str, who: str, n: int, follows: int | None = None) -> int:
    kind = "email" if channel == "email" else "phone"
    got = await do_receive_message(ctx, InboundMessage(
        channel=channel, provider_id=f"{who}-{n}", received_at=clock.now(), body=f"Missatge {n}",
        subject="Padró", identities=[IdentityIn(kind, who)], ticket_id=follows))
    assert got.ticket_id is not None
    clock.advance(minutes=1)
    return got.ticket_id


async def reference(ctx: HubContext, agent_id: int, channel: str | None, limit: int, mine_sort: str) -> dict[str, Any]:
    """What each lane holds, read the long way."""
    async with ctx.engine.connect() as conn:
        tickets = [dict(r._mapping) for r in await conn.execute(text(
            "SELECT id, channel, status, priority, assignee_id, created_at, queued_at, last_inbound_at,"
            " last_activity_at FROM tickets"))]
        inbound = [tuple(r) for r in await conn.execute(text(
            "SELECT ticket_id, id FROM messages WHERE direction = 'in'"))]
        seen = {t: m for t, m in await conn.execute(text(
            "SELECT ticket_id, message_id FROM ticket_seen WHERE agent_id = :a"), {"a": agent_id})}

    def when(value: Any) -> float:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=value.tzinfo or UTC).timestamp()

    def unread_of(ticket_id: int) -> int:
        return sum(1 for t, m in inbound if t == ticket_id and m > seen.get(ticket_id, 0))

    shown = [t for t in tickets if channel is None or t["channel"] == channel]
    waiting = sorted((t for t in shown if t["status"] == "waiting"),
                     key=lambda t: (-t["priority"], when(t["queued_at"]), t["id"]))
    identifying = sorted((t for t in shown if t["status"] == "identifying"), key=lambda t: (when(t["created_at"]), t["id"]))
    mine = [t for t in shown if t["status"] in OWNED and t["assignee_id"] == agent_id]
    if mine_sort == "activity":
        mine.sort(key=lambda t: (when(t["last_activity_at"]), t["id"]), reverse=True)
    else:
        mine.sort(key=lambda t: (t["last_inbound_at"] is None, when(t["last_inbound_at"] or t["created_at"]), t["id"]))
    all_mine = [t["id"] for t in tickets if t["status"] in OWNED and t["assignee_id"] == agent_id]
    return {
        "waiting": (len(waiting), [t["id"] for t in waiting[:limit]]),
        "identifying": (len(identifying), [t["id"] for t in identifying[:limit]]),
        "mine": (len(mine), [(t["id"], unread_of(t["id"])) for t in mine[:limit]]),
        "unread": sum(1 for i in all_mine if unread_of(i)),
    }


def answer(got: views.QueueOut) -> dict[str, Any]:
    return {
        "waiting": (got.waiting.count, [t.id for t in got.waiting.tickets]),
        "identifying": (got.identifying.count, [t.id for t in got.identifying.tickets]),
        "mine": (got.mine.count, [(t.id, t.unread) for t in got.mine.tickets]),
        "unread": got.unread,
    }


async def test_the_queue_in_one_statement_answers_as_each_lane_read_on_its_own(
    ctx: HubContext, clock: FakeClock,
) -> None:
    me, colleague = [await do_create_agent(ctx, f"q{i}@oac.example", f"Agent {i}", "agent", "password123")
                     for i in range(2)]
    email = [await receive(ctx, clock, "email", f"c{i}@example.org", i) for i in range(9)]
    whatsapp = [await receive(ctx, clock, "whatsapp", f"+3460090{i:04d}", i) for i in range(4)]  # identifying
    for ticket in email[:5]:
        await do_assign(ctx, ticket, me, by_agent_id=me)
    await do_assign(ctx, email[5], colleague, by_agent_id=colleague)
    async with ctx.engine.begin() as conn:  # urgent ones jump the queue
        await conn.execute(text("UPDATE tickets SET priority = 2 WHERE id = :t"), {"t": email[8]})
        await conn.execute(text("UPDATE tickets SET priority = 1 WHERE id = :t"), {"t": email[6]})
    # Seen, then the citizen writes again; seen with nothing new; never seen; seen then marked unread.
    await do_mark_seen(ctx, me, email[0])
    await receive(ctx, clock, "email", "c0@example.org", 100, follows=email[0])
    await receive(ctx, clock, "email", "c0@example.org", 101, follows=email[0])
    await do_mark_seen(ctx, me, email[1])
    await do_mark_seen(ctx, me, email[3])
    await do_mark_unseen(ctx, me, email[3])
    await do_mark_seen(ctx, colleague, email[2])  # a colleague's mark is not mine
    await receive(ctx, clock, "email", "c2@example.org", 102, follows=email[2])
    await receive(ctx, clock, "email", "c9@example.org", 103)  # a new consultation: waiting

    for agent in (me, colleague):
        for channel in (None, "email", "whatsapp"):
            for limit in (1, 2, 50):
                for sort in views.MINE_ORDERS:
                    async with ctx.sessionmaker() as session:
                        got = await views.queue(session, agent, channel=channel, limit=limit, mine_sort=sort)
                    assert answer(got) == await reference(ctx, agent, channel, limit, sort), (agent, channel, limit, sort)
    async with ctx.sessionmaker() as session:
        got = await views.queue(session, me, channel="whatsapp")
    async with ctx.sessionmaker() as session:
        assert await views.unread_counts(session, me) == {email[0]: 2, email[2]: 2, email[3]: 1, email[4]: 1}
    assert got.mine.tickets == [] and got.unread == 4  # my unread consultations, whatever the lanes show
    async with ctx.sessionmaker() as session:
        nobody = await views.queue(session, None)
    assert (nobody.mine.count, nobody.mine.tickets, nobody.unread) == (0, [], 0)
    assert [t.id for t in nobody.waiting.tickets][:2] == [email[8], email[6]]
    assert [t.id for t in nobody.identifying.tickets] == whatsapp


async def test_an_empty_queue_still_counts_my_unread_consultations(ctx: HubContext, clock: FakeClock) -> None:
    me = await do_create_agent(ctx, "solo@oac.example", "Solo", "agent", "password123")
    async with ctx.sessionmaker() as session:
        got = await views.queue(session, me)
    assert answer(got) == {"waiting": (0, []), "identifying": (0, []), "mine": (0, []), "unread": 0}
    ticket = await receive(ctx, clock, "email", "solo@example.org", 1)
    await do_assign(ctx, ticket, me, by_agent_id=me)
    async with ctx.sessionmaker() as session:
        got = await views.queue(session, me, channel="whatsapp")  # every lane empty under the filter
    assert answer(got) == {"waiting": (0, []), "identifying": (0, []), "mine": (0, []), "unread": 1}
