"""The read models keep their promise: a fixed number of queries whatever the number of rows.

`hub/views.py` says each view issues a constant number of queries (joins and `IN` lists, never
one query per row). These tests count the statements the queue, the ticket list and a ticket's
timeline send, with a few rows and with many more (tickets, messages, notes, attachments,
assignees), and expect the same count.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event as sa_event

from hub import views
from hub.actions.agents import do_create_agent
from hub.actions.lifecycle import do_assign
from hub.actions.messages import do_add_note, do_receive_message, do_reply
from hub.clock import FakeClock
from hub.context import HubContext
from hub.inbound import IdentityIn, InboundMessage
from hub.search import TicketFilter


@contextmanager
def counting(ctx: HubContext) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa_event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa_event.remove(ctx.engine.sync_engine, "before_cursor_execute", count)


async def queries(ctx: HubContext, read: Callable[[Any], Awaitable[Any]]) -> int:
    async with ctx.sessionmaker() as session:
        await session.connection()  # the connection's own set-up is not the view's
        with counting(ctx) as statements:
            await read(session)
    return len(statements)


async def grow(ctx: HubContext, clock: FakeClock, agents: list[int], start: int, n: int) -> int:
    """n more email consultations, each with citizen messages, a reply and a note; returns the last ticket."""
    ticket_id = 0
    for i in range(start, start + n):
        got = await do_receive_message(ctx, InboundMessage(
            channel="email", provider_id=f"<m{i}@example.org>", received_at=clock.now(), body=f"Consulta {i}",
            subject=f"Consulta {i}", identities=[IdentityIn("email", f"citizen{i}@example.org")]))
        assert got.ticket_id is not None
        ticket_id = got.ticket_id
        agent = agents[i % len(agents)]
        if i % 3:
            await do_assign(ctx, ticket_id, agent, by_agent_id=agent)
            await do_reply(ctx, ticket_id, agent, f"Resposta {i}")
        await do_add_note(ctx, ticket_id, agent, f"Nota {i}")
        clock.advance(minutes=1)
    return ticket_id


async def test_the_queue_the_ticket_list_and_a_timeline_cost_the_same_queries_for_many_rows(
    ctx: HubContext, clock: FakeClock,
) -> None:
    agents = [await do_create_agent(ctx, f"a{i}@oac.example", f"Agent {i}", "agent", "password123")
              for i in range(3)]
    last = await grow(ctx, clock, agents, 0, 3)

    def measure() -> dict[str, Callable[[Any], Awaitable[Any]]]:
        return {
            "queue": lambda s: views.queue(s, agents[1]),
            # Lanes of two: none full with the first tickets, every one full after: the counts
            # must not cost a statement more.
            "queue, short lanes": lambda s: views.queue(s, agents[1], limit=2),
            "queue by channel, short lanes": lambda s: views.queue(s, agents[1], channel="email", limit=2),
            "ticket list": lambda s: views.list_tickets(s, TicketFilter()),
            "open tickets": lambda s: views.list_tickets(s, TicketFilter(status="open")),
            "timeline": lambda s: views.ticket_detail(s, last, clock.now()),
        }

    few = {name: await queries(ctx, read) for name, read in measure().items()}
    last = await grow(ctx, clock, agents, 3, 25)
    # The last ticket's contact writes again: a longer timeline, several consultations.
    for k in range(6):
        await do_receive_message(ctx, InboundMessage(
            channel="email", provider_id=f"<again{k}@example.org>", received_at=clock.now(), body=f"I un altre {k}",
            identities=[IdentityIn("email", "citizen27@example.org")]))
    many = {name: await queries(ctx, read) for name, read in measure().items()}
    assert many == few, (few, many)
    assert all(0 < n <= 12 for n in few.values()), few
    # The whole queue is one statement (lanes, counts, my unread), with lanes short or long.
    assert few["queue"] == few["queue, short lanes"] == few["queue by channel, short lanes"] == 1, few
    # The ticket with its contact and topics, identities, history, messages with their files and
    # authors, calls, events (with the agents they name).
    assert few["timeline"] == 6, few
