"""A ticket's page (`hub.views.ticket_detail`) names every agent it shows and lists every file
and topic: the timeline's authors, callers and actors, and the agents an assignment or a
transfer names in its data, come joined onto their rows. Checked against the rows read the
long way (every message, file, call, event and agent as plain rows, names looked up in Python).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hub import views
from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.calls import CallEntry, do_log_call
from hub.actions.lifecycle import do_assign
from hub.actions.messages import do_add_note, do_receive_message, do_reply
from hub.actions.topics import do_create_topic, do_set_ticket_topics
from hub.actors import Actor
from hub.clock import FakeClock
from hub.context import HubContext
from hub.inbound import AttachmentIn, IdentityIn, InboundMessage


def _file(ctx: HubContext, name: str) -> AttachmentIn:
    data = f"%PDF-1.4 {name}".encode()
    sha = hashlib.sha256(data).hexdigest()
    folder = Path(ctx.settings.data_dir) / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / sha).write_bytes(data)
    return AttachmentIn(filename=name, content_type="application/pdf", size=len(data), storage_key=sha, sha256=sha)


async def _rows(ctx: HubContext, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with ctx.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql), params)]


async def test_the_page_names_every_agent_and_lists_every_file_and_topic(ctx: HubContext, clock: FakeClock) -> None:
    manager = Actor.agent(await do_create_agent(ctx, "cap@oac.example", "Cap d'Oficina", "manager", "password123"),
                          "manager")
    marta = await do_create_agent(ctx, "marta@oac.example", "Marta Puig", "agent", "password123")
    jordi = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vila", "agent", "password123")
    first = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id="<a@example.org>", received_at=clock.now(), body="Adjunto els rebuts",
        subject="Rebuts", identities=[IdentityIn("email", "anna@example.org")],
        attachments=[_file(ctx, "gener.pdf"), _file(ctx, "febrer.pdf")]))
    ticket = first.ticket_id
    assert ticket is not None
    clock.advance(minutes=1)
    for agent in (marta, jordi):
        await do_set_presence(ctx, Actor.agent(agent), "available")
    await do_assign(ctx, ticket, marta, by_agent_id=manager)
    clock.advance(minutes=1)
    await do_add_note(ctx, ticket, marta, "Truca sovint")
    await do_log_call(ctx, CallEntry("+34973000009", agent_id=marta, ticket_id=ticket, duration_s=60), by=Actor.agent(marta))
    clock.advance(minutes=1)
    await do_assign(ctx, ticket, jordi, by_agent_id=manager)  # a transfer: from Marta to Jordi
    clock.advance(minutes=1)
    await do_reply(ctx, ticket, jordi, "Bon dia, ja els tenim")
    await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id="<b@example.org>", received_at=clock.now(), body="Gràcies",
        identities=[IdentityIn("email", "anna@example.org")], ticket_id=ticket))
    padro = (await do_create_topic(ctx, manager, {"ca": "Padró"}, position=2)).id
    rebuts = (await do_create_topic(ctx, manager, {"ca": "Rebuts"}, position=1)).id
    await do_set_ticket_topics(ctx, manager, ticket, [padro, rebuts])

    async with ctx.sessionmaker() as session:
        detail = await views.ticket_detail(session, ticket, clock.now())

    names = dict(await _rows(ctx, "SELECT id, name FROM agents"))
    messages = {m: a for m, a in await _rows(ctx, "SELECT id, author_agent_id FROM messages WHERE ticket_id = :t", t=ticket)}
    files: dict[int, list[str]] = {}
    for message_id, filename in await _rows(
            ctx, "SELECT message_id, filename FROM attachments ORDER BY id"):
        files.setdefault(message_id, []).append(filename)
    calls = {c: a for c, a in await _rows(ctx, "SELECT id, agent_id FROM calls WHERE ticket_id = :t", t=ticket)}
    events = {e: a for e, a in await _rows(ctx, "SELECT id, agent_id FROM events WHERE ticket_id = :t", t=ticket)}

    shown = {(item.type, item.id): item for item in detail.timeline}
    assert sorted(i for t, i in shown if t in ("message", "note")) == sorted(messages)
    assert sorted(i for t, i in shown if t == "call") == sorted(calls)
    assert sorted(i for t, i in shown if t == "event") == sorted(events)
    for item in detail.timeline:
        agent = {"call": calls, "event": events}.get(item.type, messages)[item.id]
        assert (item.agent_id, item.agent_name) == (agent, names.get(agent)), item
        if item.type in ("message", "note"):
            assert [a.filename for a in item.attachments] == files.get(item.id, []), item
        for key in ("agent_id", "from_agent_id"):
            if isinstance(item.data.get(key), int):
                assert item.data[key.replace("_id", "_name")] == names[item.data[key]], item
    assert [a.filename for a in shown["message", first.message_id].attachments] == ["gener.pdf", "febrer.pdf"]
    transfer = [i.data for i in detail.timeline if i.type == "event" and i.data.get("from_agent_id") == marta]
    assert transfer and transfer[0]["from_agent_name"] == "Marta Puig" and transfer[0]["agent_name"] == "Jordi Vila"
    assert [i.agent_name for i in detail.timeline if i.type == "call"] == ["Marta Puig"]
    assert [t.id for t in detail.topics] == [rebuts, padro]  # in their order
    assert detail.ticket.assignee_name == "Jordi Vila"
    contact = detail.ticket.contact_id
    assert [(i.kind, i.value) for i in detail.contact.identities] == await _rows(
        ctx, "SELECT kind, value FROM identities WHERE contact_id = :c ORDER BY id", c=contact)
    assert [t.id for t in detail.contact.tickets] == [i for i, in await _rows(
        ctx, "SELECT id FROM tickets WHERE contact_id = :c ORDER BY id DESC", c=contact)]
