"""Actions own their audit entries (issue 12, step 2).

- Every action `hub.actions.audit.ACTIONS` lists is written by exactly one place in the code,
  and that place is in `hub/actions` (a scan of the sources for audit writes).
- Each ticket and contact action, done, leaves its entry, naming who acted.
- A failure injected after the change, before the commit, leaves neither the change nor the
  entry: the entry is written in the action's own transaction.
"""

from __future__ import annotations

import ast
import hashlib
from datetime import date, timedelta
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select

from hub.actions.accounts import do_change_password, do_reset_password, do_sign_in_from_identity_provider, do_set_signature
from hub.actions.agents import do_create_agent, do_deactivate_agent, do_set_presence
from hub.actions.audit import ACTIONS
from hub.actions.auth import (
    do_issue_api_token, do_revoke_api_token, record_failed_sign_in, record_sign_in, record_sign_out,
)
from hub.actions.bulk import do_bulk
from hub.actions.calls import CallEntry, do_log_call
from hub.actions.entry_points import do_create_entry_point, do_update_entry_point
from hub.actions.errors import Forbidden
from hub.actions.lifecycle import do_assign, do_rename_contact, do_resolve, do_take_next, do_unassign
from hub.actions.merge import do_merge_contacts
from hub.actions.messages import do_add_note, do_receive_message, do_reply
from hub.actions.office import do_add_closure, do_remove_closure, do_set_office_hours
from hub.actions.privacy import contact_export, do_anonymise_expired, do_erase_contact
from hub.actions.quick_replies import do_create_quick_reply, do_delete_quick_reply, do_update_quick_reply
from hub.actions.reads import read_attachment, read_ticket
from hub.actions.reopen import do_reopen
from hub.actions.routing import do_change_presence
from hub.actions.texts import do_set_text
from hub.actions.topics import do_create_topic, do_set_ticket_topics, do_set_topic_required, do_update_topic
from hub.actions.two_factor import do_disable_two_factor, do_enable_two_factor, do_use_recovery_code, new_secret
from hub.actions.unit import UnitOfWork
from hub.actors import SYSTEM, Actor
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Attachment, AuditEntry, Contact, Ticket
from hub.inbound import AttachmentIn, IdentityIn, InboundMessage
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("hub", "agent_ui", "channels", "runtime", "entrypoints")
WRITERS = {"add_audit": 2, "audit": 2}  # function name -> index of the action argument


def audit_writes(root: Path = ROOT) -> dict[str, list[str]]:
    """Action name -> the places (file:function) that write an entry with it."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for func_node in ast.walk(tree):
                if not isinstance(func_node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func_node):
                    if not isinstance(node, ast.Call):
                        continue
                    name = node.func.id if isinstance(node.func, ast.Name) else (
                        node.func.attr if isinstance(node.func, ast.Attribute) else None)
                    action = None
                    if name in WRITERS and len(node.args) > WRITERS[name]:
                        action = node.args[WRITERS[name]]
                    elif name == "AuditEntry":
                        action = next((k.value for k in node.keywords if k.arg == "action"), None)
                    if isinstance(action, ast.Constant) and isinstance(action.value, str):
                        where = f"{path.relative_to(root)}:{func_node.name}"
                        found.setdefault(action.value, [])
                        if where not in found[action.value]:
                            found[action.value].append(where)
    return found


def test_every_listed_action_is_written_by_exactly_one_place_in_the_core() -> None:
    writes = audit_writes()
    for action in ACTIONS:
        places = writes.get(action, [])
        assert len(places) == 1, f"{action} is written by {places or 'nobody'}"
        assert places[0].startswith("hub/actions/"), f"{action} is written outside the core: {places[0]}"


def test_the_scan_finds_a_second_writer(tmp_path: Path) -> None:
    """The scan above is not vacuous: a controller writing its own entry is caught."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "hub" / "a.py").write_text("async def do_x(uow):\n    add_audit(uow, 1, 'ticket.reply', 'ticket', 2)\n")
    (tmp_path / "agent_ui" / "b.py").write_text("async def post(ctx):\n    await audit(ctx, 1, 'ticket.reply', 'ticket', 2)\n")
    assert audit_writes(tmp_path) == {"ticket.reply": ["hub/a.py:do_x", "agent_ui/b.py:post"]}


# Behaviour ----------------------------------------------------------------------------------


def mail(clock: FakeClock, sid: str, sender: str = "anna@example.org") -> InboundMessage:
    return InboundMessage(
        channel="email", provider_id=sid, received_at=clock.now(), body="Bon dia, sobre el meu rebut",
        subject="Rebut", identities=[IdentityIn("email", sender)], display_hint="Anna Serra",
    )


async def trail(ctx: HubContext) -> list[tuple[str, int | None, str]]:
    async with ctx.sessionmaker() as s:
        rows = (await s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    return [(r.action, r.agent_id, r.target_id) for r in rows]


async def _setup(ctx: HubContext, clock: FakeClock) -> tuple[Actor, Actor, int, int]:
    marta = await do_create_agent(ctx, "marta@oac.example", "Marta Puig", "agent", "password123")
    jordi = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vila", "agent", "password123")
    received = await do_receive_message(ctx, mail(clock, "<m1@example.org>"))  # waits: nobody is available
    assert received.ticket_id is not None
    await do_set_presence(ctx, marta, "available")
    await do_set_presence(ctx, jordi, "available")
    async with ctx.sessionmaker() as s:
        contact_id = (await s.exec(select(Contact.id))).one()
    assert contact_id is not None
    return Actor.agent(marta), Actor.agent(jordi), received.ticket_id, contact_id


async def test_each_ticket_and_contact_action_leaves_its_entry_naming_the_actor(
    ctx: HubContext, clock: FakeClock,
) -> None:
    marta, jordi, ticket, contact = await _setup(ctx, clock)
    before = len(await trail(ctx))
    await read_ticket(ctx, marta, ticket)
    await do_assign(ctx, ticket, marta.agent_id, by_agent_id=marta)  # type: ignore[arg-type]
    await do_reply(ctx, ticket, marta, "Bon dia, ja ho miro")
    await do_add_note(ctx, ticket, jordi, "Truca sovint")  # anyone may add a note
    await do_rename_contact(ctx, contact, "Anna Serra i Puig", jordi)
    await do_unassign(ctx, ticket, marta)
    await do_resolve(ctx, ticket, jordi)
    assert (await trail(ctx))[before:] == [
        ("ticket.read", marta.agent_id, str(ticket)),
        ("ticket.assign", marta.agent_id, str(ticket)),
        ("ticket.reply", marta.agent_id, str(ticket)),
        ("ticket.note", jordi.agent_id, str(ticket)),
        ("contact.rename", jordi.agent_id, str(contact)),
        ("ticket.unassign", marta.agent_id, str(ticket)),
        ("ticket.resolve", jordi.agent_id, str(ticket)),
    ]


async def test_a_refused_action_changes_nothing_and_records_nothing(ctx: HubContext, clock: FakeClock) -> None:
    marta, jordi, ticket, _ = await _setup(ctx, clock)
    await do_assign(ctx, ticket, marta.agent_id, by_agent_id=marta)  # type: ignore[arg-type]
    before = await trail(ctx)
    for attempt in (
        lambda: do_reply(ctx, ticket, jordi, "hola"),
        lambda: do_resolve(ctx, ticket, jordi),
        lambda: do_unassign(ctx, ticket, jordi),
        lambda: do_assign(ctx, ticket, jordi.agent_id, by_agent_id=jordi),  # type: ignore[arg-type]
        lambda: do_reopen(ctx, ticket, jordi),
    ):
        with pytest.raises(Forbidden):
            await attempt()
    assert await trail(ctx) == before
    # A manager may; so may the system (timers, the command line), recorded without an agent.
    boss = Actor.agent(await do_create_agent(ctx, "cap@oac.example", "Cap", "manager", "password123"), "manager")
    before = await trail(ctx)
    await do_reply(ctx, ticket, boss, "Ho porto jo")
    await do_resolve(ctx, ticket, SYSTEM)
    assert (await trail(ctx))[len(before):] == [
        ("ticket.reply", boss.agent_id, str(ticket)), ("ticket.resolve", None, str(ticket)),
    ]


async def test_bulk_actions_write_the_single_actions_entries_marked_bulk(ctx: HubContext, clock: FakeClock) -> None:
    marta, _, ticket, _ = await _setup(ctx, clock)
    boss = Actor.agent(await do_create_agent(ctx, "cap@oac.example", "Cap", "manager", "password123"), "manager")
    outcomes = await do_bulk(ctx, boss, [ticket], "assign", marta.agent_id)
    assert outcomes[0].ok
    async with ctx.sessionmaker() as s:
        entry = (await s.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()))).first()
    assert entry is not None and (entry.action, entry.agent_id) == ("ticket.assign", boss.agent_id)
    assert entry.detail == {"to": marta.agent_id, "bulk": True}


# A failure after the change -------------------------------------------------------------------


async def _state(ctx: HubContext) -> dict[str, list[str]]:
    """Every row of every table (the audit trail's too): what a failed action must leave as it was."""
    out: dict[str, list[str]] = {}
    async with ctx.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await conn.execute(sa_select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


STRONG = "a sturdy lantern drifts over seven quiet hills"


async def _mail_with_file(ctx: HubContext, x: dict[str, Any]) -> None:
    data = b"%PDF-1.4 rebut"
    sha = hashlib.sha256(data).hexdigest()
    folder = Path(ctx.settings.data_dir) / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / sha).write_bytes(data)
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id="<file@example.org>", received_at=ctx.clock.now(), body="annex",
        identities=[IdentityIn("email", "anna@example.org")],
        attachments=[AttachmentIn(filename="rebut.pdf", content_type="application/pdf", size=len(data),
                                  storage_key=sha, sha256=sha)],
    ))
    async with ctx.sessionmaker() as s:
        x["attachment"] = (await s.exec(select(Attachment.id).where(Attachment.message_id == got.message_id))).one()


async def _enable_2fa(ctx: HubContext, agent_id: int, x: dict[str, Any]) -> None:
    secret = new_secret()
    x["codes"] = await do_enable_two_factor(ctx, agent_id, secret, pyotp.TOTP(secret).at(ctx.clock.now()))


async def _topic(ctx: HubContext, a: Actor, x: dict[str, Any]) -> None:
    x["topic"] = (await do_create_topic(ctx, a, {"ca": "Padró", "es": "Padrón", "en": "Census"})).id


async def _quick_reply(ctx: HubContext, a: Actor, x: dict[str, Any]) -> None:
    x["reply"] = (await do_create_quick_reply(ctx, a, title="Horari", body="Obrim de 8:30 a 14:30",
                                              language="ca")).id


async def _entry_point(ctx: HubContext, a: Actor, x: dict[str, Any]) -> None:
    x["entry_point"] = (await do_create_entry_point(ctx, a, "Web del padró", "Hola, consulta de padró", None)).id


async def _missed_call(ctx: HubContext, a: Actor, x: dict[str, Any]) -> None:
    await do_log_call(ctx, CallEntry("+34973000009", outcome="missed", agent_id=a.agent_id))


async def _available_with_a_ticket(ctx: HubContext, a: Actor, x: dict[str, Any]) -> None:
    await do_change_presence(ctx, a, "available")
    await do_assign(ctx, x["ticket"], a.agent_id, by_agent_id=a)  # type: ignore[arg-type]


async def _expire(ctx: HubContext, a: Actor, x: dict[str, Any]) -> None:
    await do_resolve(ctx, x["ticket"], a)
    x["clock"].advance(ctx.settings.retention + timedelta(days=2))


Step = Callable[[HubContext, Actor, dict[str, Any]], Awaitable[object]]
# action[:how] -> (what must happen first, the action, who the entry names: "admin" or None).
# `x` holds the ids made by `_setup`; `a` is an admin. Every action `ACTIONS` lists is here.
STEPS: dict[str, tuple[Step | None, Step, str | None]] = {
    "login": (None, lambda ctx, a, x: record_sign_in(ctx, a.agent_id, "form", "127.0.0.1"), "admin"),
    "login:token": (None, lambda ctx, a, x: do_issue_api_token(ctx, a.agent_id, address="127.0.0.1"), "admin"),
    "login.failed": (None, lambda ctx, a, x: record_failed_sign_in(ctx, "form", "nobody@oac.example", "127.0.0.1"),
                     None),
    "logout": (None, lambda ctx, a, x: record_sign_out(ctx, a, "127.0.0.1"), "admin"),
    "attachment.download": (lambda ctx, a, x: _mail_with_file(ctx, x),
                            lambda ctx, a, x: read_attachment(ctx, a, x["attachment"]), "admin"),
    "ticket.read": (None, lambda ctx, a, x: read_ticket(ctx, a, x["ticket"]), "admin"),
    "ticket.read:timeline": (None, lambda ctx, a, x: read_ticket(ctx, a, x["ticket"], part="timeline"), "admin"),
    "ticket.assign": (None, lambda ctx, a, x: do_assign(ctx, x["ticket"], x["marta"], by_agent_id=a), "admin"),
    "ticket.assign:next": (None, lambda ctx, a, x: do_take_next(ctx, a), "admin"),
    "ticket.reply": (None, lambda ctx, a, x: do_reply(ctx, x["ticket"], a, "Bon dia"), "admin"),
    "ticket.note": (None, lambda ctx, a, x: do_add_note(ctx, x["ticket"], a, "Truca sovint"), "admin"),
    "ticket.unassign": (lambda ctx, a, x: do_assign(ctx, x["ticket"], x["marta"], by_agent_id=a),
                        lambda ctx, a, x: do_unassign(ctx, x["ticket"], a), "admin"),
    "ticket.resolve": (None, lambda ctx, a, x: do_resolve(ctx, x["ticket"], a), "admin"),
    "ticket.resolve:call_back": (_missed_call, lambda ctx, a, x: do_log_call(
        ctx, CallEntry("+34973000009", duration_s=60, agent_id=a.agent_id, follow_up=True)), "admin"),
    "ticket.reopen": (lambda ctx, a, x: do_resolve(ctx, x["ticket"], a),
                      lambda ctx, a, x: do_reopen(ctx, x["ticket"], a), "admin"),
    "ticket.topics": (_topic, lambda ctx, a, x: do_set_ticket_topics(ctx, a, x["ticket"], [x["topic"]]), "admin"),
    "contact.rename": (None, lambda ctx, a, x: do_rename_contact(ctx, x["contact"], "Anna Serra i Puig", a), "admin"),
    "contact.merge": (None, lambda ctx, a, x: do_merge_contacts(ctx, x["other_contact"], x["contact"], a), "admin"),
    "contact.export": (None, lambda ctx, a, x: contact_export(ctx, x["contact"], a), "admin"),
    "contact.erase": (None, lambda ctx, a, x: do_erase_contact(ctx, x["contact"], a), "admin"),
    "retention.anonymise": (_expire, lambda ctx, a, x: do_anonymise_expired(ctx), None),
    "agent.create": (None, lambda ctx, a, x: do_create_agent(ctx, "nou@oac.example", "Nou", "agent", "password123",
                                                             by=a), "admin"),
    "agent.deactivate": (lambda ctx, a, x: do_assign(ctx, x["ticket"], x["marta"], by_agent_id=a),
                         lambda ctx, a, x: do_deactivate_agent(ctx, x["marta"], a), "admin"),
    "agent.role": (None, lambda ctx, a, x: do_sign_in_from_identity_provider(
        ctx, "marta@oac.example", "Marta Puig", "manager", "https://idp.example.org"), None),
    "agent.password": (None, lambda ctx, a, x: do_change_password(ctx, a.agent_id, "password123", STRONG), "admin"),
    "agent.password_reset": (None, lambda ctx, a, x: do_reset_password(ctx, a.agent_id, x["marta"], STRONG), "admin"),
    "agent.2fa_enable": (None, lambda ctx, a, x: _enable_2fa(ctx, a.agent_id, x), "admin"),
    "agent.2fa_disable": (lambda ctx, a, x: _enable_2fa(ctx, x["marta"], x),
                          lambda ctx, a, x: do_disable_two_factor(ctx, a.agent_id, x["marta"]), "admin"),
    "agent.2fa_recovery_code": (lambda ctx, a, x: _enable_2fa(ctx, a.agent_id, x),
                                lambda ctx, a, x: do_use_recovery_code(ctx, a.agent_id, x["codes"][0]), "admin"),
    "agent.presence": (None, lambda ctx, a, x: do_change_presence(ctx, a, "available"), "admin"),
    "agent.presence:offline": (_available_with_a_ticket,
                               lambda ctx, a, x: do_change_presence(ctx, a, "offline"), "admin"),
    "agent.signature": (None, lambda ctx, a, x: do_set_signature(ctx, a.agent_id, "Marta\nOAC Lleida"), "admin"),
    "token.revoke": (None, lambda ctx, a, x: do_revoke_api_token(ctx, x["token"], a), "admin"),
    "calendar.hours": (None, lambda ctx, a, x: do_set_office_hours(ctx, a, "mon-fri 08:00-15:00"), "admin"),
    "calendar.closure.add": (None, lambda ctx, a, x: do_add_closure(ctx, a, date(2026, 12, 24), None, "Nadal"), "admin"),
    "calendar.closure.remove": (lambda ctx, a, x: do_add_closure(ctx, a, date(2026, 12, 24), None, "Nadal"),
                                lambda ctx, a, x: do_remove_closure(ctx, a, date(2026, 12, 24), date(2026, 12, 24)),
                                "admin"),
    "topic.create": (None, _topic, "admin"),
    "topic.update": (_topic, lambda ctx, a, x: do_update_topic(ctx, a, x["topic"], active=False), "admin"),
    "option.set": (None, lambda ctx, a, x: do_set_topic_required(ctx, a, True), "admin"),
    "quick_reply.create": (None, _quick_reply, "admin"),
    "quick_reply.update": (_quick_reply, lambda ctx, a, x: do_update_quick_reply(ctx, a, x["reply"], title="Estiu"),
                           "admin"),
    "quick_reply.delete": (_quick_reply, lambda ctx, a, x: do_delete_quick_reply(ctx, a, x["reply"]), "admin"),
    "text.update": (None, lambda ctx, a, x: do_set_text(ctx, a, "reminder.text", "ca", "Encara hi som."), "admin"),
    "text.restore": (lambda ctx, a, x: do_set_text(ctx, a, "reminder.text", "ca", "Encara hi som."),
                     lambda ctx, a, x: do_set_text(ctx, a, "reminder.text", "ca", None), "admin"),
    "entry_point.create": (None, _entry_point, "admin"),
    "entry_point.update": (_entry_point, lambda ctx, a, x: do_update_entry_point(ctx, a, x["entry_point"],
                                                                                 label="Web del padró (nou)"), "admin"),
}


def test_every_listed_action_has_its_failure_case() -> None:
    assert sorted({key.split(":")[0] for key in STEPS}) == sorted(ACTIONS)


@pytest.mark.parametrize("key", sorted(STEPS))
async def test_a_failure_after_the_change_leaves_neither_change_nor_entry(
    key: str, any_db_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    action = key.split(":")[0]
    ctx = HubContext.create(make_settings(tmp_path, any_db_url), clock)
    try:
        marta, jordi, ticket, contact = await _setup(ctx, clock)
        other = await do_receive_message(ctx, mail(clock, "<m2@example.org>", sender="anna.serra@example.net"))
        async with ctx.sessionmaker() as s:
            other_ticket = await s.get(Ticket, other.ticket_id)
        assert other_ticket is not None
        admin = Actor.agent(await do_create_agent(ctx, "admin@oac.example", "Admin", "admin", "password123"), "admin")
        assert admin.agent_id is not None
        ids = {"ticket": ticket, "contact": contact, "other_contact": other_ticket.contact_id, "marta": marta.agent_id,
               "jordi": jordi.agent_id, "token": await do_issue_api_token(ctx, admin.agent_id), "clock": clock}
        first, step, who = STEPS[key]
        if first is not None:
            await first(ctx, admin, ids)
        before = await _state(ctx)

        async def broken(self: UnitOfWork) -> None:  # runs after the change, before the commit
            raise RuntimeError("the disk filled up")

        monkeypatch.setattr(UnitOfWork, "_write_events", broken)
        with pytest.raises(RuntimeError):
            await step(ctx, admin, ids)
        monkeypatch.undo()
        assert await _state(ctx) == before
        # Without the failure the same call goes through, change and entry together.
        await step(ctx, admin, ids)
        assert await _state(ctx) != before
        expected = admin.agent_id if who == "admin" else None
        assert [(action, expected)] == [e[:2] for e in (await trail(ctx))[-1:]]
    finally:
        await ctx.close()


async def test_a_call_logged_as_resolved_records_who_resolved_it(ctx: HubContext, clock: FakeClock) -> None:
    from hub.actions.calls import CallEntry, do_log_call

    marta, jordi, ticket, _ = await _setup(ctx, clock)
    logged = await do_log_call(ctx, CallEntry("+34973000001", duration_s=240, agent_id=marta.agent_id, topic="Padró"))
    assert (await trail(ctx))[-1] == ("ticket.resolve", marta.agent_id, str(logged.ticket_id))
    # Resolving a colleague's consultation from the call form is refused before the call is written.
    await do_assign(ctx, ticket, marta.agent_id, by_agent_id=marta)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        await do_log_call(ctx, CallEntry("+34973000002", duration_s=60, agent_id=jordi.agent_id, ticket_id=ticket,
                                         resolve=True))
