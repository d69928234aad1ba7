"""The consultations behind a statistic that SQL alone cannot select.

"Outside the SLA" is a first reply later than `HUB_SLA_FIRST_RESPONSE` counted in office time
(hub/calendar.py: evenings, weekends and holidays do not count), from the consultation's first
entry in the queue, exactly as `hub.stats.facts_of` counts `first_response_in_sla`. The other
conditions of the filter narrow the candidates in SQL (answered consultations only); the office
time of each is then computed here and the filter gets their ids.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.context import HubContext
from hub.db.tables import EventRow, Ticket
from hub.search import TicketFilter, conditions

BATCH = 2000


async def resolve_outside_sla(ctx: HubContext, session: AsyncSession, f: TicketFilter) -> TicketFilter:
    """`f` with `outside_sla` turned into the ids of the consultations it means."""
    if not f.outside_sla:
        return f
    from hub.rollups import office_time

    office = await office_time(ctx)
    base = replace(f, outside_sla=False, before=None, q=None)
    candidates = (await session.exec(select(Ticket.id, Ticket.created_at, Ticket.first_response_at).where(
        *conditions(base), col(Ticket.first_response_at).is_not(None), Ticket.kind == "consultation",
    ))).all()
    ids: list[int] = []
    for i in range(0, len(candidates), BATCH):
        batch = candidates[i:i + BATCH]
        queued = dict((await session.exec(select(EventRow.ticket_id, func.min(EventRow.at)).where(
            col(EventRow.ticket_id).in_([c[0] for c in batch]), EventRow.kind == "queued",
        ).group_by(EventRow.ticket_id))).all())
        for ticket_id, created_at, first_response_at in batch:
            start = queued.get(ticket_id) or created_at
            if first_response_at is not None and office.seconds(start, first_response_at) > office.sla_s:
                ids.append(ticket_id)
    return replace(f, ids=tuple(ids) if f.ids is None else tuple(set(ids) & set(f.ids)))
