"""A contact's export and erasure (GDPR), and the append-only audit trail, on the real database.

The erasure test plants distinctive markers in every place a citizen's data can live (names,
numbers, addresses, texts, HTML, subjects, file names, call notes, survey comments, accepted
webhook payloads, events) and then searches every text column of every table for them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, func, select, text
from sqlmodel import SQLModel

from hub.actions.agents import do_create_agent
from hub.actions.audit import audit_entries
from hub.actions.calls import CallEntry, do_log_call
from hub.actions.errors import Conflict, NotFound
from hub.actions.lifecycle import do_assign, do_rename_contact, do_resolve
from hub.actions.merge import do_merge_contacts
from hub.actions.messages import do_accept_inbound, do_add_note, do_process_inbox, do_reply
from hub.actions.privacy import contact_export, do_erase_contact
from hub.actions.survey import do_answer_survey
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import AuditEntry, Contact, EventRow, Message, SurveyResponse, Ticket
from hub.inbound import AttachmentIn, IdentityIn, InboundMessage

MARKERS = [
    "Xenia-Quimera", "xq-secret@citizen.example", "Qwibble padró", "QWIBBLE-BODY", "qwibble-html",
    "qwibble-scan.pdf", "QWIBBLE-NOTE", "QWIBBLE-REPLY", "QWIBBLE-CALL-NOTES", "QWIBBLE-SURVEY", "+34699123456",
    "Zeta-Other-Name",
]


async def _store_file(ctx: HubContext, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    await ctx.files.put(sha, data)  # where HUB_ATTACHMENTS says (hub.storage)
    return sha


async def _mail(ctx: HubContext, provider_id: str, sender: str, body: str, sha: str, filename: str,
                subject: str = "Qwibble padró", hint: str = "", html: str = "") -> int:
    """A mail arrives the way the email channel hands it over: accepted, then processed."""
    inbox_id = await do_accept_inbound(ctx, InboundMessage(
        channel="email", provider_id=provider_id, received_at=ctx.clock.now(), identities=[IdentityIn("email", sender)],
        body=body, body_html=f"<p>{body} {html}</p>", subject=subject, display_hint=hint,
        attachments=[AttachmentIn(filename=filename, content_type="application/pdf", size=3, storage_key=sha,
                                  sha256=sha)],
        meta={"from": sender},
    ))
    assert inbox_id is not None
    received = await do_process_inbox(ctx, inbox_id)
    assert received is not None and received.ticket_id is not None
    return received.ticket_id


async def _citizen_story(ctx: HubContext, clock: FakeClock) -> dict[str, Any]:
    manager = await do_create_agent(ctx, "manager@example.org", "Marta Puig", "manager", "long enough pw")
    sha = await _store_file(ctx, b"pdf")
    ticket_id = await _mail(ctx, "<m1@citizen.example>", "xq-secret@citizen.example", "QWIBBLE-BODY", sha,
                            "qwibble-scan.pdf", hint="Xenia-Quimera", html="qwibble-html")
    ticket = await _ticket(ctx, ticket_id)
    await do_rename_contact(ctx, ticket.contact_id, "Xenia-Quimera", manager)
    await do_assign(ctx, ticket_id, manager, by_agent_id=manager)
    await do_reply(ctx, ticket_id, manager, "QWIBBLE-REPLY")
    await do_add_note(ctx, ticket_id, manager, "QWIBBLE-NOTE")
    await do_log_call(ctx, CallEntry(number="+34699123456", outcome="answered", duration_s=60, topic="Qwibble padró",
                                     notes="QWIBBLE-CALL-NOTES", agent_id=manager, ticket_id=ticket_id))
    clock.advance(minutes=5)
    resolved = await do_resolve(ctx, ticket_id, manager)
    assert resolved.survey_url
    await do_answer_survey(ctx, resolved.survey_url.rsplit("/", 1)[1], 4, "QWIBBLE-SURVEY")
    # A second person sent the very same file: it must survive the first person's erasure.
    other_ticket = await _mail(ctx, "<m2@other.example>", "other@other.example", "hello", sha, "same.pdf",
                               subject="Other", hint="Zeta-Other-Name")
    return {"manager": manager, "ticket_id": ticket_id, "contact_id": ticket.contact_id, "sha": sha,
            "other_ticket": other_ticket}


async def _ticket(ctx: HubContext, ticket_id: int) -> Ticket:
    async with ctx.sessionmaker() as session:
        ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


async def _all_text(ctx: HubContext, exclude_tickets: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    """Every row of every table, as one string (the haystack for markers)."""
    parts: list[str] = []
    async with ctx.engine.connect() as conn:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        for table in meta.sorted_tables:
            for row in (await conn.execute(select(table))).mappings():
                parts.append(json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False))
    return "\n".join(parts)


async def _counts(ctx: HubContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as session:
        out: dict[str, Any] = {}
        for table in (Ticket, Message, EventRow, SurveyResponse, Contact):
            out[table.__tablename__] = (await session.exec(select(func.count()).select_from(table))).one()[0]
        out["ratings"] = sorted(r[0] for r in (await session.exec(select(SurveyResponse.rating))).all())
        out["statuses"] = sorted(r[0] for r in (await session.exec(select(Ticket.status))).all())
    return out


async def test_export_holds_everything_about_the_person_and_is_audited(ctx: HubContext, clock: FakeClock) -> None:
    story = await _citizen_story(ctx, clock)
    data = await contact_export(ctx, story["contact_id"], story["manager"])
    dumped = json.dumps(data, ensure_ascii=False)
    for marker in MARKERS[:-1]:  # everything of this person...
        assert marker in dumped, marker
    assert "Zeta-Other-Name" not in dumped  # ...and nothing of the other one
    assert "token_hash" not in dumped  # the hub's secrets are not the person's data
    assert data["format"] == "contact-hub.export/1"
    assert {m["direction"] for m in data["messages"]} >= {"in", "out", "note"}
    assert [a["filename"] for a in data["attachments"]] == ["qwibble-scan.pdf"]
    assert data["survey_responses"][0]["comment"] == "QWIBBLE-SURVEY"
    assert any(e["kind"] == "resolved" for e in data["events"])
    assert len(data["calls"]) == 1 and data["calls"][0]["notes"] == "QWIBBLE-CALL-NOTES"
    entries = await audit_entries(ctx, action="contact.export")
    assert [(e.agent_id, e.target_type, e.target_id) for e in entries] == [
        (story["manager"], "contact", str(story["contact_id"]))
    ]


@pytest.mark.parametrize("store", ["local", "database"])
async def test_erasure_removes_every_trace_and_statistics_keep_their_counts(
    ctx: HubContext, clock: FakeClock, store: str,
) -> None:
    ctx.settings.attachments = store  # HUB_ATTACHMENTS: the file goes from the disk or the database
    story = await _citizen_story(ctx, clock)
    before = await _counts(ctx)
    haystack = await _all_text(ctx)
    assert all(m in haystack for m in MARKERS)  # the markers were really planted

    result = await do_erase_contact(ctx, story["contact_id"], story["manager"])

    haystack = await _all_text(ctx)
    for marker in MARKERS[:-1]:
        assert marker not in haystack, f"{marker} survived the erasure"
    assert "Zeta-Other-Name" in haystack  # the other citizen is untouched
    assert await _counts(ctx) == before  # same tickets, messages, events, ratings, statuses
    assert result.tickets == 1 and result.identities >= 2 and result.messages >= 4 and result.calls == 1
    # The file is shared with the other citizen's mail, so it stays; erase them too and it goes.
    assert await ctx.files.size(story["sha"]) == 3 and result.files == 0
    other = await _ticket(ctx, story["other_ticket"])
    assert (await do_erase_contact(ctx, other.contact_id, story["manager"])).files == 1
    assert await ctx.files.size(story["sha"]) is None
    assert not (Path(ctx.settings.data_dir) / "attachments" / story["sha"]).exists()
    async with ctx.sessionmaker() as session:
        contact = await session.get(Contact, story["contact_id"])
        assert contact is not None and contact.erased_at is not None
    assert [e.action for e in await audit_entries(ctx, action="contact.erase")] == ["contact.erase"] * 2


async def test_a_citizen_writing_again_after_erasure_is_a_new_contact(ctx: HubContext, clock: FakeClock) -> None:
    story = await _citizen_story(ctx, clock)
    await do_erase_contact(ctx, story["contact_id"], story["manager"])
    assert (await do_erase_contact(ctx, story["contact_id"], story["manager"])).identities == 0  # idempotent
    sha = await _store_file(ctx, b"again")
    again = await _mail(ctx, "<m3@citizen.example>", "xq-secret@citizen.example", "back", sha, "x.pdf")
    assert (await _ticket(ctx, again)).contact_id != story["contact_id"]


async def test_export_and_erasure_of_merged_contacts_cover_both(ctx: HubContext, clock: FakeClock) -> None:
    story = await _citizen_story(ctx, clock)
    other = await _ticket(ctx, story["other_ticket"])
    await do_merge_contacts(ctx, other.contact_id, story["contact_id"], story["manager"])
    data = await contact_export(ctx, story["contact_id"], story["manager"])
    assert "Zeta-Other-Name" in json.dumps(data)  # now the same person
    with pytest.raises(Conflict):
        await contact_export(ctx, other.contact_id, story["manager"])
    await do_erase_contact(ctx, story["contact_id"], story["manager"])
    haystack = await _all_text(ctx)
    assert not [m for m in MARKERS if m in haystack]


async def test_unknown_contact_is_not_found(ctx: HubContext) -> None:
    with pytest.raises(NotFound):
        await contact_export(ctx, 999, None)
    with pytest.raises(NotFound):
        await do_erase_contact(ctx, 999, None)


async def test_the_audit_trail_refuses_updates_and_deletes_in_the_database(ctx: HubContext, clock: FakeClock) -> None:
    from hub.actions.auth import record_failed_sign_in

    await record_failed_sign_in(ctx, "form", "nobody@example.org", "127.0.0.1")
    for sql in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            async with ctx.engine.begin() as conn:
                await conn.execute(text(sql))
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(AuditEntry.action))).all()
    assert [r[0] for r in rows] == ["login.failed"]


def test_every_table_with_personal_columns_is_covered() -> None:
    """A new table holding contact data must be taught to export and erasure (fails until it is)."""
    from hub.actions import privacy

    source = Path(privacy.__file__).read_text()
    for table in SQLModel.metadata.sorted_tables:
        if "contact_id" in table.c or "message_id" in table.c or "ticket_id" in table.c:
            if table.name in {"outbox", "audit_log"}:
                continue  # ids and delivery state only
            model = {m.class_.__tablename__: m.class_.__name__ for m in SQLModel._sa_registry.mappers}.get(table.name)
            assert model and model in source, f"{table.name} holds a person's data: export and erase it"
    assert timedelta(days=730) == __import__("hub.config").config.Settings.model_fields["retention"].default
