"""One action on many tickets (the supervisor board's checkboxes, `POST /api/v1/tickets/bulk`).

Each ticket is its own transaction: one that cannot be done (a colleague's, already resolved,
the chosen agent full) is reported and the others go ahead. Who may act is checked here, for
each ticket, with the rules of the single actions (its assignee, anyone while it is unowned,
managers and admins always); the audit entry commits with the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.actions.audit import add_audit
from hub.actions.errors import Conflict, Forbidden, Invalid, NotFound
from hub.actions.lifecycle import assign_by_hand, resolve_ticket
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Agent
from hub.tickets import Unassign

ACTIONS = ("assign", "unassign", "resolve")
MAX_TICKETS = 200


@dataclass(frozen=True)
class Outcome:
    ticket_id: int
    ok: bool
    status: str | None = None  # the ticket's status after the action
    error: str | None = None  # not_found | forbidden | conflict | invalid
    message: str | None = None


async def do_bulk(
    ctx: HubContext, actor_id: int, ticket_ids: list[int], action: str, agent_id: int | None = None,
    send_survey: bool = True,
) -> list[Outcome]:
    """Run `action` on each ticket in turn; one outcome per id, in the order given."""
    if action not in ACTIONS:
        raise Invalid(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        raise Invalid("no tickets given")
    if len(ids) > MAX_TICKETS:
        raise Invalid(f"at most {MAX_TICKETS} tickets at once")
    if action == "assign" and agent_id is None:
        raise Invalid("assign needs an agent_id")
    async with ctx.sessionmaker() as session:
        actor = await session.get(Agent, actor_id)
    if actor is None or not actor.active:
        raise NotFound(f"agent {actor_id} does not exist")
    manager = actor.role in ("manager", "admin")
    outcomes = []
    for ticket_id in ids:
        try:
            status = await _one(ctx, actor_id, manager, ticket_id, action, agent_id, send_survey)
            outcomes.append(Outcome(ticket_id, True, status=status))
        except Forbidden as exc:
            outcomes.append(Outcome(ticket_id, False, error="forbidden", message=str(exc)))
        except NotFound as exc:
            outcomes.append(Outcome(ticket_id, False, error="not_found", message=str(exc)))
        except Conflict as exc:
            outcomes.append(Outcome(ticket_id, False, error="conflict", message=str(exc)))
        except Invalid as exc:
            outcomes.append(Outcome(ticket_id, False, error="invalid", message=str(exc)))
    return outcomes


async def _one(ctx: HubContext, actor_id: int, manager: bool, ticket_id: int, action: str, agent_id: int | None,
               send_survey: bool) -> str:
    async with UnitOfWork(ctx) as uow:
        ticket = await uow.ticket_for_update(ticket_id)
        if not manager and ticket.assignee_id not in (None, actor_id):
            raise Forbidden("this ticket belongs to a colleague")
        if action == "assign":
            assert agent_id is not None
            await assign_by_hand(uow, ticket, agent_id, actor_id)
            add_audit(uow, actor_id, "ticket.assign", "ticket", ticket_id, to=agent_id, bulk=True)
        elif action == "unassign":
            uow.transition(ticket, Unassign())
            add_audit(uow, actor_id, "ticket.unassign", "ticket", ticket_id, bulk=True)
        else:
            await resolve_ticket(uow, ticket, actor_id, send_survey)
            add_audit(uow, actor_id, "ticket.resolve", "ticket", ticket_id, bulk=True)
        return ticket.status
