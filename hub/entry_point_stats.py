"""Statistics per entry point: how many consultations each web page, poster or counter link
brings, and how they fare (waiting, resolution, satisfaction).

Each entry point's row holds the key figures of the consultations that came through it (at most
one per consultation), dated like every other figure by the event that completes each fact
(docs/metrics.md, "By entry point"), added up from the per-entry-point cells
(`stats_monthly_entry_point`, `stats_daily_entry_point`, and the events for what is not rolled
up yet: `hub/rollups.py`), like the By-topic table (`hub/topic_stats.py`).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.tables import EntryPoint
from hub.stats import Cell, EntryPointFigures, figures_of


async def entry_point_rows(session: AsyncSession, cells: dict[tuple[int, str], Cell]) -> list[EntryPointFigures]:
    """One row per entry point with any fact in `cells` ((entry point, metric) -> cell, already
    filtered), oldest entry point first."""
    per_entry: dict[int, dict[str, Cell]] = defaultdict(dict)
    for (entry_point_id, metric), cell in cells.items():
        if cell.n:
            per_entry[entry_point_id][metric] = cell
    if not per_entry:
        return []
    entry_points = (await (await session.connection()).execute(
        select(EntryPoint.id, EntryPoint.label, EntryPoint.topic_id, EntryPoint.active)
        .where(EntryPoint.id.in_(list(per_entry))).order_by(EntryPoint.id)  # type: ignore[union-attr]
    )).all()
    out = []
    for entry_point_id, label, topic_id, active in entry_points:
        f = figures_of(per_entry[entry_point_id])
        out.append(EntryPointFigures(
            entry_point_id=entry_point_id, label=label, topic_id=topic_id, active=bool(active),
            consultations=f.consultations, resolved=f.handled, wait=f.wait, resolution=f.resolution,
            surveys_answered=f.surveys_answered, satisfaction_average=f.satisfaction_average,
        ))
    return out
