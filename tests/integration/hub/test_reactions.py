"""Typed events and the one reaction table: every event type has its entry, reactions run only
after commit, a failing reaction stops neither the others nor the commit, and what browsers
receive for an event keeps its names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlmodel import select

from hub import events
from hub.actions.unit import UnitOfWork
from hub.bus import Bus
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Option
from hub.tickets import EventKind
from runtime import live
from runtime.reactions import REACTIONS, push


def test_every_event_type_has_an_entry_in_the_reaction_table() -> None:
    # A new event type without an entry fails here: decide what it sets off, if only `()`.
    assert set(events.types()) == set(REACTIONS)
    assert events.Announcement not in REACTIONS and events.TicketEvent not in REACTIONS  # abstract


def test_every_history_event_kind_has_its_event_type_and_every_type_one_name() -> None:
    assert set(events.RECORDED) == set(EventKind)
    tags = [events.tag(t) for t in events.types()]
    assert len(tags) == len(set(tags))
    assert all(t.__struct_config__.frozen for t in events.types())


def test_what_browsers_receive_keeps_its_names() -> None:
    # `agent_ui/static/hub.js` reads `type`, `ticket_id`, `agent_id`, `assignee_id`: a public interface.
    assert live.notice(events.Assigned(7, assignee_id=3, agent_id=3)) == {
        "type": "assigned", "ticket_id": 7, "assignee_id": 3, "agent_id": 3,
    }
    assert live.notice(events.AgentChanged(5)) == {"type": "agent_changed", "ticket_id": None, "agent_id": 5}
    assert live.notice(events.TicketSeen(7, 2)) == {"type": "ticket_seen", "ticket_id": 7, "agent_id": 2}
    assert live.notice(events.TicketChanged(7)) == {"type": "ticket_changed", "ticket_id": 7}
    # A history event announces the ids of its data, nothing else (no names, numbers or texts).
    renamed = events.recorded(EventKind.NAME_CHANGED, 7, 3, {"from": "Anna", "to": "Anna Puig"})
    assert live.notice(renamed) == {"type": "name_changed", "ticket_id": 7, "assignee_id": 3, "agent_id": None}
    moved = events.recorded(EventKind.TRANSFERRED, 7, 4, {"agent_id": 4, "from_agent_id": 3})
    assert moved == events.Transferred(7, 4, 4, from_agent_id=3)


def test_internal_work_never_reaches_browsers() -> None:
    for internal in (events.MessageQueued, events.InboxAccepted, events.AttachmentPending):
        assert push not in REACTIONS[internal]


class Heard:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def reaction(self, name: str) -> Any:
        def react(got: Sequence[events.Announcement]) -> None:
            self.calls.append((name, list(got)))
        return react


async def _remember(uow: UnitOfWork, key: str) -> None:
    uow.session.add(Option(key=key, value=True, updated_at=uow.now))


async def _stored(ctx: HubContext, key: str) -> bool:
    async with ctx.sessionmaker() as s:
        return (await s.exec(select(Option).where(Option.key == key))).first() is not None


async def test_reactions_run_only_after_commit(ctx: HubContext) -> None:
    heard = Heard()
    ctx.bus = Bus()
    ctx.bus.react({events.AgentChanged: [heard.reaction("drain")], events.TicketChanged: [heard.reaction("push")]})
    with pytest.raises(RuntimeError):
        async with UnitOfWork(ctx) as uow:
            await _remember(uow, "test.rolled_back")
            uow.emit(events.AgentChanged(1))
            await uow.session.flush()  # written, not committed
            assert heard.calls == []  # nothing heard while the transaction is open
            raise RuntimeError("the action fails after its change")
    assert heard.calls == [] and not await _stored(ctx, "test.rolled_back")

    async with UnitOfWork(ctx) as uow:
        await _remember(uow, "test.committed")
        uow.emit(events.AgentChanged(1))
        uow.emit(events.TicketChanged(9))
        uow.emit(events.AgentChanged(2))
        assert heard.calls == []
    # Each reaction once per publication, with its events in order.
    assert heard.calls == [
        ("drain", [events.AgentChanged(1), events.AgentChanged(2)]), ("push", [events.TicketChanged(9)]),
    ]
    assert await _stored(ctx, "test.committed")


async def test_a_failing_reaction_stops_neither_the_others_nor_the_commit(
    ctx: HubContext, caplog: pytest.LogCaptureFixture,
) -> None:
    heard = Heard()

    def broken(got: Sequence[events.Announcement]) -> None:
        raise ConnectionError("broker unreachable")

    async def broken_async(got: Sequence[events.Announcement]) -> None:
        raise ConnectionError("redis unreachable")

    ctx.bus = Bus()
    ctx.bus.react({
        events.Resolved: [broken, heard.reaction("after broken")],
        events.TicketChanged: [broken_async, heard.reaction("push")],
    })
    async with UnitOfWork(ctx) as uow:
        await _remember(uow, "test.kept")
        uow.emit(events.Resolved(5))
        uow.emit(events.TicketChanged(5))
    assert heard.calls == [("after broken", [events.Resolved(5)]), ("push", [events.TicketChanged(5)])]
    assert await _stored(ctx, "test.kept")  # a committed change stays committed
    assert caplog.text.count("after-commit reaction") == 2


async def test_a_real_action_announces_typed_events_with_ids_only(ctx: HubContext, clock: FakeClock) -> None:
    from datetime import UTC, datetime

    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage
    from runtime.reactions import wire_live_only

    sent: list[dict[str, Any]] = []
    live.clear_publishers()
    live.add_publisher(sent.append)
    ctx.bus = Bus()
    wire_live_only(ctx)
    try:
        got = await do_receive_message(ctx, InboundMessage(
            channel="email", provider_id="<typed@example.net>", received_at=datetime.now(UTC), body="Hola, el meu DNI",
            identities=[IdentityIn("email", "laia@example.net")], subject="Padró",
        ))
    finally:
        live.clear_publishers()
    assert {n["type"] for n in sent} >= {"created", "queued", "message_received", "ticket_changed"}
    assert all(n["ticket_id"] == got.ticket_id for n in sent)
    assert all(isinstance(v, int | None) for n in sent for k, v in n.items() if k != "type")
    assert "message_queued" not in {n["type"] for n in sent}  # the acknowledgement's delivery stays inside


async def test_the_composition_root_adds_the_channels_reactions(settings: Settings) -> None:
    from entrypoints.bootstrap import bootstrap

    hub = bootstrap(settings, "worker")
    from channels.whatsapp.tasks import enqueue_media  # its actors exist once the broker does

    ctx = HubContext.create(settings)
    try:
        hub.wire(ctx)
        assert ctx.bus.reactions(events.AttachmentPending) == [enqueue_media]  # the media fetch
        assert ctx.bus.reactions(events.Resolved) == list(REACTIONS[events.Resolved])
    finally:
        await ctx.close()
