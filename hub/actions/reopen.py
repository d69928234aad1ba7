"""Reopening a resolved consultation (`POST /api/v1/tickets/{id}/reopen`, the ticket's button).

It goes back to the agent who had it when that agent is available (and active), else to the
queue (where automatic assignment may pick it up). A channel may forbid it: on WhatsApp a
citizen's message after resolution opens a new consultation, so a resolved one stays closed
(`ChannelRules.reopen`). Closed-unidentified consultations never reopen. Who may: the agent
who had it, anyone when nobody had it, managers and admins always; audited with the change.
"""

from __future__ import annotations

from hub.actions.audit import add_audit
from hub.actions.errors import Conflict, Forbidden
from hub.actions.lifecycle import after_queued
from hub.actions.permissions import Who, acting
from hub.actions.unit import UnitOfWork
from hub.channel_rules import rules_for
from hub.context import HubContext
from hub.db.tables import Agent
from hub.tickets import Reopen, Status


async def do_reopen(ctx: HubContext, ticket_id: int, actor_id: Who) -> str:
    """Reopen (`actor_id`: an actor or an agent id); returns the new status (`assigned` or `waiting`)."""
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, actor_id)
        ticket = await uow.ticket_for_update(ticket_id)
        if not actor.may_act_on_ticket(ticket.assignee_id):
            raise Forbidden("this consultation belonged to a colleague: ask them or a manager")
        if not rules_for(ticket.channel).reopen:
            raise Conflict(f"a resolved {ticket.channel} consultation is not reopened: "
                           "the citizen's next message opens a new one")
        if ticket.status != Status.RESOLVED:
            raise Conflict(f"only a resolved consultation can be reopened (this one is {ticket.status})")
        owner = await uow.session.get(Agent, ticket.assignee_id, with_for_update=True) if ticket.assignee_id else None
        back_to = owner.id if owner is not None and owner.active and owner.presence == "available" else None
        uow.transition(ticket, Reopen(back_to))
        add_audit(uow, actor.agent_id, "ticket.reopen", "ticket", ticket_id, to=back_to)
        if back_to is None:
            await after_queued(uow, ticket)
        return ticket.status
