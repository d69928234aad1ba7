"""Actions own their audit entries (issue 12, step 2).

- Every action `hub.actions.audit.ACTIONS` lists is written by exactly one place in the code,
  and that place is in `hub/actions` (a scan of the sources for audit writes).
- Each ticket and contact action, done, leaves its entry, naming who acted.
- A failure injected after the change, before the commit, leaves neither the change nor the
  entry: the entry is written in the action's own transaction.
"""

from __future__ import annotations

import ast
from datetime import date
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from hub.actions.agents import do_create_agent, do_deactivate_agent, do_set_presence
from hub.actions.audit import ACTIONS
from hub.actions.auth import do_issue_api_token, do_revoke_api_token
from hub.actions.bulk import do_bulk
from hub.actions.errors import Forbidden
from hub.actions.lifecycle import do_assign, do_rename_contact, do_resolve, do_unassign
from hub.actions.merge import do_merge_contacts
from hub.actions.messages import do_add_note, do_receive_message, do_reply
from hub.actions.office import do_add_closure, do_set_office_hours
from hub.actions.privacy import do_erase_contact
from hub.actions.reads import read_ticket
from hub.actions.reopen import do_reopen
from hub.actions.unit import UnitOfWork
from hub.actors import SYSTEM, Actor
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Agent, ApiToken, AuditEntry, Contact, EventRow, Message, Option, Ticket
from hub.inbound import IdentityIn, InboundMessage
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
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


async def _state(ctx: HubContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as s:
        def all_of(table: Any) -> Any:
            return s.exec(select(table).order_by(col(table.id)))

        return {
            "tickets": [(t.id, t.status, t.assignee_id) for t in (await all_of(Ticket)).all()],
            "contacts": [(c.id, c.name, c.merged_into_id, c.erased_at) for c in (await all_of(Contact)).all()],
            "agents": [(a.id, a.active) for a in (await all_of(Agent)).all()],
            "tokens": [(t.id, t.revoked_at) for t in (await all_of(ApiToken)).all()],
            "options": [(o.key, o.value) for o in (await s.exec(select(Option).order_by(col(Option.key)))).all()],
            "messages": (await s.exec(select(func.count()).select_from(Message))).one(),
            "events": (await s.exec(select(func.count()).select_from(EventRow))).one(),
            "audit": (await s.exec(select(func.count()).select_from(AuditEntry))).one(),
        }


Step = Callable[[HubContext, Actor, dict[str, Any]], Awaitable[object]]
STEPS: dict[str, tuple[Step | None, Step]] = {
    # action: (what must happen first, the action); `x` holds the ids made by `_setup`.
    "ticket.read": (None, lambda ctx, a, x: read_ticket(ctx, a, x["ticket"])),
    "ticket.assign": (None, lambda ctx, a, x: do_assign(ctx, x["ticket"], x["marta"], by_agent_id=a)),
    "ticket.reply": (None, lambda ctx, a, x: do_reply(ctx, x["ticket"], a, "Bon dia")),
    "ticket.note": (None, lambda ctx, a, x: do_add_note(ctx, x["ticket"], a, "Truca sovint")),
    "ticket.unassign": (lambda ctx, a, x: do_assign(ctx, x["ticket"], x["marta"], by_agent_id=a),
                        lambda ctx, a, x: do_unassign(ctx, x["ticket"], a)),
    "ticket.resolve": (None, lambda ctx, a, x: do_resolve(ctx, x["ticket"], a)),
    "ticket.reopen": (lambda ctx, a, x: do_resolve(ctx, x["ticket"], a), lambda ctx, a, x: do_reopen(ctx, x["ticket"], a)),
    "contact.rename": (None, lambda ctx, a, x: do_rename_contact(ctx, x["contact"], "Anna Serra i Puig", a)),
    "contact.merge": (None, lambda ctx, a, x: do_merge_contacts(ctx, x["other_contact"], x["contact"], a)),
    "contact.erase": (None, lambda ctx, a, x: do_erase_contact(ctx, x["contact"], a)),
    "agent.create": (None, lambda ctx, a, x: do_create_agent(ctx, "nou@oac.example", "Nou", "agent", "password123", by=a)),
    "agent.deactivate": (None, lambda ctx, a, x: do_deactivate_agent(ctx, x["jordi"], a)),
    "token.revoke": (None, lambda ctx, a, x: do_revoke_api_token(ctx, x["token"], a)),
    "calendar.hours": (None, lambda ctx, a, x: do_set_office_hours(ctx, a, "mon-fri 08:00-15:00")),
    "calendar.closure.add": (None, lambda ctx, a, x: do_add_closure(ctx, a, date(2026, 12, 24), None, "Nadal")),
}


@pytest.mark.parametrize("action", sorted(STEPS))
async def test_a_failure_after_the_change_leaves_neither_change_nor_entry(
    action: str, any_db_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
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
               "jordi": jordi.agent_id, "token": await do_issue_api_token(ctx, admin.agent_id)}
        first, step = STEPS[action]
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
        assert [(action, admin.agent_id)] == [e[:2] for e in (await trail(ctx))[-1:]]
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
