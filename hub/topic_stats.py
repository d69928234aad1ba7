"""Statistics per topic: which procedures people come with, how long they wait, how long they
take to resolve, how satisfied they leave.

Each topic's row is the key figures of the statistics filtered by that topic (docs/metrics.md,
"By topic"): the facts of the consultations that carry the topic (a consultation with two
topics counts for each), each dated by the event that completes it like every other figure,
added up from the same per-topic cells (`stats_monthly_topic`, `stats_daily_topic`, and the
events for what is not rolled up yet: `hub/rollups.py`). So a manager who opens the page
filtered by a topic reads the same numbers, medians and p90 included, and a year costs a few
hundred roll-up rows, not a scan of the tickets.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.tables import Topic
from hub.stats import Cell, TopicFigures, figures_of


async def topic_rows(session: AsyncSession, cells: dict[tuple[int, str], Cell]) -> list[TopicFigures]:
    """One row per topic with any fact in `cells` ((topic, metric) -> cell, already filtered), in
    the managers' topic order."""
    per_topic: dict[int, dict[str, Cell]] = defaultdict(dict)
    for (topic_id, metric), cell in cells.items():
        if cell.n:
            per_topic[topic_id][metric] = cell
    if not per_topic:
        return []
    topics = (await (await session.connection()).execute(
        select(Topic.id, Topic.key, Topic.names).where(Topic.id.in_(list(per_topic)))  # type: ignore[union-attr]
        .order_by(Topic.position, Topic.id)  # type: ignore[arg-type]
    )).all()
    out = []
    for topic_id, key, names in topics:
        f = figures_of(per_topic[topic_id])
        out.append(TopicFigures(
            topic_id=topic_id, key=key, names=dict(names), consultations=f.consultations, resolved=f.handled,
            wait=f.wait, resolution=f.resolution, surveys_answered=f.surveys_answered,
            satisfaction_average=f.satisfaction_average,
        ))
    return out
