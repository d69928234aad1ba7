"""Statistics per topic: which procedures people come with, how long they wait, how long they
take to resolve, how satisfied they leave.

Counted over the consultations created in the range that carry the topic (a consultation with
two topics counts for each). Definitions (docs/metrics.md, "By topic"):
- `consultations`: created in the range with this topic; `resolved`: of those, resolved;
- `wait`: from entering the queue to the first agent reply (what the citizen waited for an answer);
- `resolution`: from creation to resolution;
- `satisfaction_average`: the mean rating of their answered surveys.
One grouped query (averages computed by the database), so it costs the same for any range.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.tables import SurveyResponse, Ticket, TicketTopic, Topic
from hub.stats import Duration, TopicFigures


def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _duration(count: Any, average: Any) -> Duration:
    n = int(count or 0)
    return Duration(n, round(float(average), 1) if n and average is not None else None, None, None)


async def topic_figures(
    session: AsyncSession, start: datetime, end: datetime, *, channel: str | None = None,
    agent_id: int | None = None, topic_id: int | None = None,
) -> list[TopicFigures]:
    """Figures per topic for consultations created in [start, end), in the managers' topic order
    (only `topic_id`'s, when given)."""
    dialect = session.get_bind().dialect.name
    wait = _seconds(dialect, Ticket.first_response_at, Ticket.queued_at)
    resolution = _seconds(dialect, Ticket.resolved_at, Ticket.created_at)
    stmt = (
        select(
            TicketTopic.topic_id, func.count(), func.count(resolution),
            func.count(wait), func.avg(wait), func.avg(resolution), func.count(SurveyResponse.rating), func.avg(SurveyResponse.rating),
        )
        .select_from(TicketTopic)
        .join(Ticket, Ticket.id == TicketTopic.ticket_id)
        .outerjoin(SurveyResponse, SurveyResponse.ticket_id == Ticket.id)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(TicketTopic.topic_id)
    )
    if channel:
        stmt = stmt.where(Ticket.channel == channel)
    if agent_id is not None:
        stmt = stmt.where(Ticket.assignee_id == agent_id)
    if topic_id is not None:
        stmt = stmt.where(TicketTopic.topic_id == topic_id)
    conn = await session.connection()
    rows = {r[0]: r for r in (await conn.execute(stmt)).all()}
    if not rows:
        return []
    topics = (await conn.execute(
        select(Topic.id, Topic.key, Topic.names).where(Topic.id.in_(list(rows)))  # type: ignore[union-attr]
        .order_by(Topic.position, Topic.id)
    )).all()
    out = []
    for topic_id, key, names in topics:
        _, n, resolved, waited, wait_avg, resolution_avg, answered, rating_avg = rows[topic_id]
        out.append(TopicFigures(
            topic_id=topic_id, key=key, names=dict(names), consultations=int(n),
            resolved=int(resolved), wait=_duration(waited, wait_avg), resolution=_duration(resolved, resolution_avg),
            surveys_answered=int(answered),
            satisfaction_average=round(float(rating_avg), 2) if answered and rating_avg is not None else None,
        ))
    return out
