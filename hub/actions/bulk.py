"""One action on many tickets (the supervisor board's checkboxes, `POST /api/v1/tickets/bulk`).

Each ticket is its own transaction: one that cannot be done (a colleague's, already resolved,
the chosen agent full) is reported and the others go ahead. Who may act is checked here, for
each ticket, with the rules of the single actions (its assignee, anyone while it is unowned,
managers and admins always); the audit entry commits with the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.actions.errors import Conflict, Forbidden, Invalid, NotFound
from hub.actions.lifecycle import assign_by_hand, resolve_ticket, unassign_ticket
from hub.actions.permissions import Who, acting
from hub.actions.unit import UnitOfWork
from hub.actors import Actor
from hub.context import HubContext

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
    ctx: HubContext, actor_id: Who, ticket_ids: list[int], action: str, agent_id: int | None = None,
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
        actor = await acting(session, actor_id)
    outcomes = []
    for ticket_id in ids:
        try:
            status = await _one(ctx, actor, ticket_id, action, agent_id, send_survey)
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


async def _one(ctx: HubContext, actor: Actor, ticket_id: int, action: str, agent_id: int | None,
               send_survey: bool) -> str:
    # The single actions' own steps: they check the actor on the locked row and audit.
    async with UnitOfWork(ctx) as uow:
        ticket = await uow.ticket_for_update(ticket_id)
        if action == "assign":
            assert agent_id is not None
            await assign_by_hand(uow, ticket, agent_id, actor, bulk=True)
        elif action == "unassign":
            unassign_ticket(uow, ticket, actor, bulk=True)
        else:
            await resolve_ticket(uow, ticket, actor, send_survey, bulk=True)
        return ticket.status
