"""The audit trail: who among the staff read, replied, assigned, resolved, exported or erased what.

Append-only. This module only ever inserts into `audit_log` and reads it back; there is no
update or delete here, and a database trigger (migration `privacy_0001`) refuses UPDATE and
DELETE on the table on both SQLite and PostgreSQL, so a bug elsewhere cannot rewrite history.

Only `hub/actions` writes entries, each action's from one place (the web layer never does), and
always with `add_audit(uow, ...)` inside the action's `UnitOfWork`: the entry commits with the
change (and a failure before the commit leaves neither). Audited reads (a timeline, a file, an
export) and sign-ins are actions too: their read or check and their entry share a transaction.

Details are ids and short words, never message contents: the trail must not become a second
copy of the personal data that erasure removes.
"""

from __future__ import annotations

import msgspec

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Agent, AuditEntry

# The actions the hub records. Each is written by exactly one function of `hub/actions`, in
# the transaction of the change it records (tests/integration/hub/test_audit_trail.py); a new action is
# listed here. (Others are accepted: the list documents, it does not restrict.)
ACTIONS = (
    "login", "login.failed", "logout", "attachment.download", "ticket.read", "ticket.reply", "ticket.note", "ticket.assign",
    "ticket.resolve", "contact.rename", "contact.merge", "contact.export", "contact.erase",
    "agent.create", "agent.deactivate", "retention.anonymise",
    # Added with issue 12: recorded already, now listed (and so checked).
    "ticket.unassign", "ticket.reopen", "ticket.topics", "token.revoke", "agent.role", "agent.password",
    "agent.password_reset", "agent.2fa_enable", "agent.2fa_disable", "agent.2fa_recovery_code", "agent.presence",
    "calendar.hours", "calendar.closure.add", "calendar.closure.remove", "topic.create", "topic.update",
    "option.set", "quick_reply.create", "quick_reply.update", "quick_reply.delete", "text.update", "text.restore",
    "agent.signature", "entry_point.create", "entry_point.update",
)
_DETAIL_MAX = 200


def _clean_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """Keep details small and scalar (a count, an id, a word), never free text of any length."""
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if value is None or isinstance(value, (bool, int, float)):
            out[key] = value
        else:
            out[key] = str(value)[:_DETAIL_MAX]
    return out


_TABLE = AuditEntry.__table__  # type: ignore[attr-defined]


def add_audit(uow: UnitOfWork, agent_id: int | None, action: str, target_type: str = "",
              target_id: object = None, **detail: Any) -> None:
    """Record an entry in the caller's transaction (it commits or rolls back with the change).

    A plain row, not an ORM object: written with the transaction's other appended rows
    (`UnitOfWork.append`), before its next query and at commit."""
    uow.append(_TABLE, {
        "at": uow.now, "agent_id": agent_id, "action": action[:60], "target_type": target_type[:30],
        "target_id": "" if target_id is None else str(target_id)[:60], "detail": _clean_detail(detail),
    })


class AuditRow(msgspec.Struct, frozen=True):
    """One entry as readers (the admins' page and API) see it, with the agent's name."""

    id: int
    at: datetime
    agent_id: int | None
    agent_name: str | None
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]


async def audit_entries(
    ctx: HubContext, *, agent_id: int | None = None, action: str | None = None,
    target_type: str | None = None, target_id: str | None = None,
    before: int | None = None, limit: int = 100,
) -> list[AuditRow]:
    """Newest first; page with `before` (the smallest id seen)."""
    stmt = select(AuditEntry, Agent.name).join(Agent, col(Agent.id) == col(AuditEntry.agent_id), isouter=True)
    if agent_id is not None:
        stmt = stmt.where(AuditEntry.agent_id == agent_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if before is not None:
        stmt = stmt.where(col(AuditEntry.id) < before)
    stmt = stmt.order_by(col(AuditEntry.id).desc()).limit(max(1, min(limit, 500)))
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(stmt)).all()
    return [
        AuditRow(e.id or 0, e.at, e.agent_id, name, e.action, e.target_type, e.target_id, dict(e.detail or {}))
        for e, name in rows
    ]
