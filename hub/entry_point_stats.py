"""Statistics per entry point: how many consultations each web page, poster or counter link
brings, and how they fare (waiting, resolution, satisfaction).

Counted over the consultations created in the range that came through the entry point (at most
one per consultation). The definitions are those of topics (docs/metrics.md, "By entry point"):
`wait` from entering the queue to the first agent reply, `resolution` from creation to
resolution, `satisfaction_average` the mean of their answered surveys. One grouped query over
the range's tickets that came through an entry point, like `hub/topic_stats.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.tables import EntryPoint, SurveyResponse, Ticket, TicketEntryPoint, TicketTopic
from hub.stats import EntryPointFigures
from hub.topic_stats import _duration, _seconds


async def entry_point_figures(
    session: AsyncSession, start: datetime, end: datetime, *, channel: str | None = None,
    agent_id: int | None = None, topic_id: int | None = None,
) -> list[EntryPointFigures]:
    """Figures per entry point for consultations created in [start, end), oldest entry point first
    (only the consultations about `topic_id`, when given)."""
    dialect = session.get_bind().dialect.name
    wait = _seconds(dialect, Ticket.first_response_at, Ticket.queued_at)
    resolution = _seconds(dialect, Ticket.resolved_at, Ticket.created_at)
    stmt = (
        select(
            TicketEntryPoint.entry_point_id, func.count(), func.count(resolution), func.count(wait), func.avg(wait),
            func.avg(resolution), func.count(SurveyResponse.rating), func.avg(SurveyResponse.rating),
        )
        .select_from(TicketEntryPoint)
        .join(Ticket, Ticket.id == TicketEntryPoint.ticket_id)
        .outerjoin(SurveyResponse, SurveyResponse.ticket_id == Ticket.id)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(TicketEntryPoint.entry_point_id)
    )
    if channel:
        stmt = stmt.where(Ticket.channel == channel)
    if agent_id is not None:
        stmt = stmt.where(Ticket.assignee_id == agent_id)
    if topic_id is not None:
        stmt = stmt.where(Ticket.id.in_(  # type: ignore[union-attr]
            select(TicketTopic.ticket_id).where(TicketTopic.topic_id == topic_id)))
    conn = await session.connection()
    rows = {r[0]: r for r in (await conn.execute(stmt)).all()}
    if not rows:
        return []
    entry_points = (await conn.execute(
        select(EntryPoint.id, EntryPoint.label, EntryPoint.topic_id, EntryPoint.active)
        .where(EntryPoint.id.in_(list(rows))).order_by(EntryPoint.id)  # type: ignore[union-attr]
    )).all()
    out = []
    for entry_point_id, label, topic_id, active in entry_points:
        _, n, resolved, waited, wait_avg, resolution_avg, answered, rating_avg = rows[entry_point_id]
        out.append(EntryPointFigures(
            entry_point_id=entry_point_id, label=label, topic_id=topic_id, active=bool(active),
            consultations=int(n), resolved=int(resolved), wait=_duration(waited, wait_avg),
            resolution=_duration(resolved, resolution_avg), surveys_answered=int(answered),
            satisfaction_average=round(float(rating_avg), 2) if answered and rating_avg is not None else None,
        ))
    return out
