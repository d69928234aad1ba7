"""Statistics storage and queries: daily roll-ups built by the scheduler, today computed live.

`build_day` adds up one office day's facts (hub/stats.py) into `stats_daily` rows and marks the
day in `stats_days`, in one transaction, so a day is either wholly rolled up or not at all.
`query_stats` sums the rows of the built days in SQL (a one-year range is a few hundred thousand
narrow rows at most) and computes the days not yet built from the events with the same
`facts_of`, so the two paths cannot disagree on a definition.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, case, delete, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.context import HubContext
from hub.db.tables import (
    STATS_BINS, Agent, Call, EventRow, StatsDay, SurveyResponse, Ticket, TicketEntryPoint, TicketTopic,
    stats_daily, stats_daily_entry_point, stats_daily_topic, stats_monthly, stats_monthly_entry_point,
    stats_monthly_topic,
)
from hub.stats import (
    KINDS, M, Backlog, CallRow, Cell, CellKey, Comment, CommentPage, Ev, Stats, Trends, add_up, call_facts, day_window,
    OfficeTime, facts_of, has_data, previous_range, summarise, sums_of, trend_points, year_ago_range,
)
from hub.tickets import Status
from hub.entry_point_stats import entry_point_rows
from hub.topic_stats import topic_rows

log = logging.getLogger(__name__)

BIN_COLUMNS = [f"b{i:02d}" for i in range(STATS_BINS)]
ID_BATCH = 2000  # ticket ids per query (SQLite allows ~32k bound parameters)
REROLL_DAYS = 7  # finished days re-rolled (calls called back late) ...
REROLL_EVERY = timedelta(hours=1)  # ... at most this often
PARTIAL_STEP = timedelta(minutes=5)  # today's roll-up advances in these steps ...
PARTIAL_MARGIN = timedelta(minutes=15)  # ... up to this long ago (a call is logged after it ends)
SETTLE_STEP = timedelta(minutes=1)  # a live window's consultations' facts are kept up to the last whole minute


async def _run(session: AsyncSession, stmt: Any) -> Any:
    """Core statements on the session's connection (same transaction, no ORM result wrapping)."""
    return await (await session.connection()).execute(stmt)


def office_tz(ctx: HubContext) -> ZoneInfo:
    return ZoneInfo(ctx.settings.timezone)


def office_today(ctx: HubContext) -> date:
    return ctx.clock.now().astimezone(office_tz(ctx)).date()


# Computing from the events ------------------------------------------------------------------


async def office_time(ctx: HubContext) -> OfficeTime:
    """The calendar in force (admins' hours and closures) and the first-response target."""
    from hub.actions.office import office_calendar

    return OfficeTime(await office_calendar(ctx), ctx.settings.sla_first_response.total_seconds())


TopicCells = dict[tuple[date, int, str, int, str], Cell]  # (office day, topic, channel, agent, metric)
# (office day, entry point, topic (0: any), channel, agent, metric)
EntryCells = dict[tuple[date, int, int, str, int, str], Cell]


@dataclass
class Groups:
    """The consultations' cells per topic and per entry point (what `stats_daily_topic` and
    `stats_daily_entry_point` hold)."""

    topics: TopicCells = field(default_factory=dict)
    entry_points: EntryCells = field(default_factory=dict)

    def add_shared(self, other: "Groups") -> None:
        """Add `other`'s cells without changing any cell of either (they may be cached ones)."""
        for key, cell in other.topics.items():
            _add_shared(self.topics, key, cell)
        for key, cell in other.entry_points.items():
            _add_shared(self.entry_points, key, cell)


async def compute_cells(session: AsyncSession, start: datetime, end: datetime, tz: ZoneInfo,
                        office: OfficeTime | None = None, groups: Groups | None = None) -> dict[CellKey, Cell]:
    """Every fact that happened in [start, end), from the events and calls (the direct path).
    With `groups`, the consultations' facts are also added up there per topic and entry point."""
    cells = await _event_cells(session, start, end, tz, office, groups)
    cells.update(await _call_cells(session, start, end, tz, office))  # call metrics never collide with ticket metrics
    return cells


async def _event_cells(session: AsyncSession, start: datetime, end: datetime, tz: ZoneInfo,
                       office: OfficeTime | None = None, groups: Groups | None = None,
                       entry_points_only: bool = False) -> dict[CellKey, Cell]:
    """The consultations' facts of [start, end), from their events (with `entry_points_only`,
    only those of the consultations that came through an entry point)."""
    # Two steps, not one join: the tickets touched in the window (an index range scan on
    # events.at), then their histories and channels by id (index lookups), so the planner never
    # hashes the whole tickets table.
    touched = (select(EventRow.ticket_id)
               .where(EventRow.at >= start, EventRow.at < end, EventRow.kind.in_(KINDS)))  # type: ignore[attr-defined]
    if entry_points_only:
        touched = touched.where(EventRow.ticket_id.in_(select(TicketEntryPoint.ticket_id)))  # type: ignore[union-attr]
    touched_ids = sorted((await _run(session, touched.distinct())).scalars().all())
    histories: dict[int, tuple[str, list[Ev]]] = {}
    for i in range(0, len(touched_ids), ID_BATCH):
        batch = [t for t in touched_ids[i:i + ID_BATCH] if t is not None]
        channels = dict((await _run(session, select(Ticket.id, Ticket.channel).where(
            Ticket.id.in_(batch), Ticket.kind == "consultation",  # type: ignore[union-attr]
        ))).all())
        stmt = (
            select(EventRow.ticket_id, EventRow.kind, EventRow.at, EventRow.agent_id,
                   # Only survey answers carry data the metrics read (the rating): decode no other JSON.
                   case((EventRow.kind == "survey_answered", EventRow.data), else_=None))
            .where(
                EventRow.ticket_id.in_(batch),  # type: ignore[union-attr]
                EventRow.at < end, EventRow.kind.in_(KINDS),  # type: ignore[attr-defined]
            )
            .order_by(EventRow.ticket_id, EventRow.at, EventRow.id)
        )
        for ticket_id, kind, at, agent_id, data in (await _run(session, stmt)).all():
            channel = channels.get(ticket_id)
            if channel is None:
                continue  # a call-back task, not a consultation
            entry = histories.get(ticket_id)
            if entry is None:
                entry = histories[ticket_id] = (channel, [])
            entry[1].append(Ev(kind, at, agent_id, data or {}))

    topics_of: dict[int, list[int]] = {}
    entry_of: dict[int, int] = {}
    if groups is not None and histories:
        ids = sorted(histories)
        for i in range(0, len(ids), ID_BATCH):
            batch = ids[i:i + ID_BATCH]
            for ticket_id, topic_id in (await _run(session, select(TicketTopic.ticket_id, TicketTopic.topic_id).where(
                    TicketTopic.ticket_id.in_(batch)))).all():  # type: ignore[attr-defined]
                topics_of.setdefault(ticket_id, []).append(topic_id)
            entry_of.update((await _run(session, select(TicketEntryPoint.ticket_id, TicketEntryPoint.entry_point_id)
                                        .where(TicketEntryPoint.ticket_id.in_(batch)))).all())  # type: ignore[attr-defined]

    def facts():  # type: ignore[no-untyped-def]
        for ticket_id, (channel, events) in histories.items():
            topics = topics_of.get(ticket_id, [])
            entry = entry_of.get(ticket_id)
            if not topics and entry is None:
                yield from facts_of(channel, events, tz, office, since=start)
                continue
            own = list(facts_of(channel, events, tz, office, since=start))
            for (day, ch, agent, metric), cell in add_up(own, tz, start, end).items():
                for topic in topics:
                    _add_daily(groups.topics, (day, topic, ch, agent, metric), cell)  # type: ignore[union-attr,arg-type]
                if entry is not None:
                    for topic in (0, *topics):
                        _add_daily(groups.entry_points, (day, entry, topic, ch, agent, metric), cell)  # type: ignore[union-attr,arg-type]
            yield from own

    return add_up(facts(), tz, start, end)


async def _call_cells(session: AsyncSession, start: datetime, end: datetime, tz: ZoneInfo,
                      office: OfficeTime | None = None) -> dict[CellKey, Cell]:
    """The logged calls' facts of [start, end)."""
    calls = select(
        Call.started_at, Call.direction, Call.outcome, Call.done, Call.agent_id, Call.wait_s, Call.duration_s,
        Call.state, Call.number,
    ).where(Call.started_at >= start, Call.started_at < end)
    return add_up(
        (f for row in (await _run(session, calls)).all() for f in call_facts(CallRow(*row), office)), tz, start, end,
    )


# Building roll-ups ---------------------------------------------------------------------------


async def build_days(ctx: HubContext, first: date, last: date) -> int:
    """(Re)build the roll-ups of `first`..`last` (office dates). Returns the number of days."""
    tz = office_tz(ctx)
    built = 0
    day = first
    while day <= last:
        start, end = day_window(day, day, tz)
        await _store_day(ctx, day, start, end, partial_until=None)
        built += 1
        day += timedelta(days=1)
    return built


async def build_partial(ctx: HubContext, day: date, until: datetime) -> None:
    """Roll up a running day up to `until`: queries then compute only what came after it.

    Facts are dated by the event that completes them and a fact depends only on earlier
    events, so [day start, until) + [until, now) is exactly the whole day so far.
    """
    start, end = day_window(day, day, office_tz(ctx))
    until = max(start, min(until, end))
    await _store_day(ctx, day, start, until, partial_until=until if until < end else None)


async def _store_day(ctx: HubContext, day: date, start: datetime, end: datetime, partial_until: datetime | None) -> None:
    tz = office_tz(ctx)
    async with ctx.sessionmaker() as session:
        groups = Groups()
        cells = await compute_cells(session, start, end, tz, await office_time(ctx), groups=groups)
        for table in (stats_daily, stats_daily_topic, stats_daily_entry_point):
            await _run(session, delete(table).where(table.c.day == day))
        rows = [
            {"day": d, "channel": ch, "agent_id": agent, "metric": metric, "n": cell.n, "total": cell.total,
             **dict(zip(BIN_COLUMNS, cell.bins))}
            for (d, ch, agent, metric), cell in cells.items()
        ]
        if rows:
            await (await session.connection()).execute(insert(stats_daily), rows)
        topic_rows = [
            {"day": d, "topic_id": topic, "channel": ch, "agent_id": agent, "metric": metric, "n": cell.n,
             "total": cell.total, **dict(zip(BIN_COLUMNS, cell.bins))}
            for (d, topic, ch, agent, metric), cell in groups.topics.items()
        ]
        if topic_rows:
            await (await session.connection()).execute(insert(stats_daily_topic), topic_rows)
        await _insert_entry_rows(session, groups.entry_points)
        existing = await session.get(StatsDay, day)
        if existing is None:
            existing = StatsDay(day=day, built_at=ctx.clock.now())
        existing.built_at, existing.partial_until = ctx.clock.now(), partial_until
        session.add(existing)
        await session.flush()
        await refresh_month(session, day)
        await session.commit()
    _CACHE.generation += 1  # (other processes see the new `stats_days` row: see `_day_states`)


async def _insert_entry_rows(session: AsyncSession, cells: EntryCells) -> None:
    rows = [
        {"day": d, "entry_point_id": entry, "topic_id": topic, "channel": ch, "agent_id": agent, "metric": metric,
         "n": cell.n, "total": cell.total, **dict(zip(BIN_COLUMNS, cell.bins))}
        for (d, entry, topic, ch, agent, metric), cell in cells.items()
    ]
    if rows:
        await (await session.connection()).execute(insert(stats_daily_entry_point), rows)


async def build_entry_points(ctx: HubContext, first: date, last: date) -> int:
    """Fill the per-entry-point roll-ups of the days of `first`..`last` already rolled up (after
    the upgrade that added them), reading only the consultations that came through an entry
    point; the other roll-ups are left as they are. One transaction per month. Returns the
    number of days."""
    tz = office_tz(ctx)
    office = await office_time(ctx)
    async with ctx.sessionmaker() as session:
        days = list((await _run(session, select(StatsDay.day, StatsDay.partial_until).where(
            StatsDay.day >= first, StatsDay.day <= last).order_by(StatsDay.day))).all())
    months: dict[date, list[tuple[date, datetime | None]]] = {}
    for day, until in days:
        months.setdefault(day.replace(day=1), []).append((day, until))
    for month, month_days in months.items():
        async with ctx.sessionmaker() as session:
            for day, until in month_days:
                start, end = day_window(day, day, tz)
                if until is not None:
                    end = until if until.tzinfo else until.replace(tzinfo=UTC)
                groups = Groups()
                await _event_cells(session, start, end, tz, office, groups, entry_points_only=True)
                await _run(session, delete(stats_daily_entry_point).where(stats_daily_entry_point.c.day == day))
                await _insert_entry_rows(session, groups.entry_points)
                # The day's build state changes with its rows: the cached sums of any range holding it go.
                await _run(session, StatsDay.__table__.update().where(  # type: ignore[attr-defined]
                    StatsDay.day == day).values(built_at=ctx.clock.now()))
            await refresh_month(session, month, only_entry_points=True)
            await session.commit()
    _CACHE.generation += 1
    return len(days)


async def rebuild(ctx: HubContext, first: date | None = None, last: date | None = None) -> tuple[date, date, int]:
    """Rebuild a range of finished days (default: from the first recorded event to yesterday)."""
    yesterday = office_today(ctx) - timedelta(days=1)
    last = min(last or yesterday, yesterday)
    if first is None:
        async with ctx.sessionmaker() as session:
            starts = [t for t in (
                (await _run(session, select(func.min(EventRow.at)))).scalar(),
                (await _run(session, select(func.min(Call.started_at)))).scalar(),
            ) if t is not None]
        first = min(starts).astimezone(office_tz(ctx)).date() if starts else last + timedelta(days=1)
    if first > last:
        return first, last, 0
    return first, last, await build_days(ctx, first, last)


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)


async def refresh_month(session: AsyncSession, day: date, only_entry_points: bool = False) -> None:
    """Recompute the monthly rows of `day`'s month from its daily rows, and the same per topic
    and per entry point (same transaction)."""
    first, last = month_bounds(day)
    pairs: list[tuple[Any, Any, list[str]]] = [
        (stats_daily, stats_monthly, []), (stats_daily_topic, stats_monthly_topic, ["topic_id"]),
        (stats_daily_entry_point, stats_monthly_entry_point, ["entry_point_id", "topic_id"]),
    ]
    for daily, monthly, extra in pairs[2:] if only_entry_points else pairs:
        await _run(session, delete(monthly).where(monthly.c.month == first))
        keys = [daily.c.channel, daily.c.agent_id, daily.c.metric, *[daily.c[k] for k in extra]]
        sums = select(
            literal(first, Date).label("month"), *keys, func.sum(daily.c.n), func.sum(daily.c.total), *_sum_bins(daily),
        ).where(daily.c.day >= first, daily.c.day <= last).group_by(*keys)
        columns = ["month", "channel", "agent_id", "metric", *extra, "n", "total", *BIN_COLUMNS]
        await _run(session, insert(monthly).from_select(columns, sums))


async def build_due(ctx: HubContext, max_days: int = 31) -> int:
    """Roll up the finished days not built yet, re-roll the recent ones (hourly), and bring
    today's partial roll-up up to a few minutes ago (every PARTIAL_STEP).

    Called by the scheduler; bounded per call so one tick never blocks for long.
    """
    today = office_today(ctx)
    yesterday = today - timedelta(days=1)
    now = ctx.clock.now()
    async with ctx.sessionmaker() as session:
        last_built = (await _run(session, select(func.max(StatsDay.day)).where(
            StatsDay.partial_until.is_(None)))).scalar()  # type: ignore[union-attr]
        if last_built is None:
            first_at = (await _run(session, select(func.min(EventRow.at)))).scalar()
            first_call = (await _run(session, select(func.min(Call.started_at)))).scalar()
            starts = [t for t in (first_at, first_call) if t is not None]
            if not starts:
                return 0
            first = min(starts).astimezone(office_tz(ctx)).date()
        else:
            first = last_built + timedelta(days=1)
        recent_from = yesterday - timedelta(days=REROLL_DAYS - 1)
        stale = (await _run(session, 
            select(StatsDay.day).where(StatsDay.day >= recent_from, StatsDay.built_at < now - REROLL_EVERY)
            .order_by(StatsDay.day)
        )).scalars().all()
        partial = await session.get(StatsDay, today)
    done = 0
    for day in stale:
        if day <= yesterday and done < max_days:
            done += await build_days(ctx, day, day)
    if first <= yesterday:
        done += await build_days(ctx, first, min(yesterday, first + timedelta(days=max_days - 1)))
    # Today: up to a watermark a little in the past (calls are logged after they end).
    mark = _floor(now - PARTIAL_MARGIN, PARTIAL_STEP)
    if first > yesterday and (partial is None or (partial.partial_until is not None and partial.partial_until < mark)):
        await build_partial(ctx, today, mark)
    return done


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    return moment - timedelta(seconds=int(moment.timestamp()) % seconds, microseconds=moment.microsecond)


# Querying -------------------------------------------------------------------------------------


def _sum_bins(table: Any = stats_daily) -> list:  # type: ignore[type-arg]
    return [func.sum(table.c[b]).label(b) for b in BIN_COLUMNS]


class _Tables:
    """The roll-up tables a query reads: all consultations, or one topic's (whose rows carry
    `topic_id`; calls have no topic, so they are not in them)."""

    def __init__(self, topic_id: int | None) -> None:
        self.topic_id = topic_id
        self.daily = stats_daily if topic_id is None else stats_daily_topic
        self.monthly = stats_monthly if topic_id is None else stats_monthly_topic

    def where(self, table: Any, channel: str | None, agent_id: int | None) -> list[Any]:
        out = [] if self.topic_id is None else [table.c.topic_id == self.topic_id]
        if channel:
            out.append(table.c.channel == channel)
        if agent_id is not None:
            out.append(table.c.agent_id == agent_id)
        return out


async def query_stats(
    ctx: HubContext, date_from: date, date_to: date, *, channel: str | None = None, agent_id: int | None = None,
    topic_id: int | None = None, comments_limit: int = 100, topics: bool = True, office: OfficeTime | None = None,
    series: bool = True, names: dict[int, str] | None = None,
) -> Stats:
    """The statistics of `date_from`..`date_to` (office dates, inclusive), filtered. With
    `topic_id`, only the consultations about that topic: their finished days from the per-topic
    roll-ups (`stats_monthly_topic`, `stats_daily_topic`), never a scan of the events. With
    `topics`, also the By-topic table, from the same per-topic cells (each row is what the page
    filtered by that topic shows). `office`: the calendar in force, and `names` the agents'
    names, when the caller has them.
    Without `series`, only the key figures (`Stats.headline`: no daily, weekly and monthly
    series, no busiest hours), as the comparison's earlier ranges need."""
    tz = office_tz(ctx)
    tables = _Tables(topic_id)
    office = office or await office_time(ctx)
    today = office_today(ctx)
    now = ctx.clock.now()

    def filtered(table: Any) -> list[Any]:
        return tables.where(table, channel, agent_id)

    async with ctx.sessionmaker() as session:
        built, partial, states = await _day_states(session, date_from, date_to)

        # The rolled-up rows (finished days, and today's up to its watermark) change only when
        # the scheduler (re)builds a day: their sums are cached per range and filters under the
        # build state of every day of the range (`stats_days`, written in the build's
        # transaction), so a rebuild by any process is a new key. They are kept added up as
        # `summarise` reads them (`Sums`), shared by every answer and never changed: the live
        # cells are added up on their own and the two added into new sums.
        key = (ctx.settings.effective_database_url, _CACHE.generation, date_from, date_to, channel, agent_id,
               topic_id, states)
        cached = _CACHE.get((series, *key))
        if cached is None:
            done_cells: dict[tuple[str, int, str], Cell] = {}
            done_daily: dict[tuple[date, str], Cell] = {}
            await _read_finished(session, tables, date_from, date_to, built, partial, filtered, done_cells,
                                 done_daily if series else None)
            if partial:
                await _read_partial(session, tables, list(partial), filtered, done_cells,
                                    done_daily if series else None)
            cached = _CACHE.put((series, *key), sums_of(done_cells, done_daily))
        cells: dict[tuple[str, int, str], Cell] = {}  # the live ones
        daily: dict[tuple[date, str], Cell] = {}
        # The By-topic and By-entry-point tables: (topic or entry point, metric) -> cell, from
        # the per-topic and per-entry-point roll-ups, cached under the same key.
        per_topic: dict[tuple[int, str], Cell] = {}
        per_entry: dict[tuple[int, str], Cell] = {}
        if topics:
            group_key = ("groups", *key)
            cached_groups = _CACHE.get(group_key)
            if cached_groups is None:
                cached_groups = _CACHE.put(group_key, (
                    await _read_group_sums(session, stats_monthly_topic, stats_daily_topic, "topic_id", date_from,
                                           date_to, built, channel, agent_id, topic_id),
                    await _read_group_sums(session, stats_monthly_entry_point, stats_daily_entry_point,
                                           "entry_point_id", date_from, date_to, built, channel, agent_id,
                                           topic_id or 0),
                ))
            per_topic, per_entry = dict(cached_groups[0]), dict(cached_groups[1])

        def kept(ch: str, agent: int) -> bool:
            return not ((channel and ch != channel) or (agent_id is not None and agent != agent_id))

        # Days not rolled up yet (before the scheduler caught up) and the rest of a partly
        # rolled-up day (today, after its watermark): from the events.
        live_days, windows = _live_windows(date_from, date_to, today, built, partial, tz)
        for start, end in windows:
            groups = Groups() if topics else None
            live = await _live_cells(session, start, end, tz, office, topic_id, now, groups=groups)
            for (day, ch, agent, metric), cell in live.items():
                if kept(ch, agent):
                    _add_shared(cells, (ch, agent, metric), cell)
                    if series and metric == M.CONSULTATIONS:
                        _add_shared(daily, (day, ch), cell)
            if groups is not None:
                for (_day, topic, ch, agent, metric), cell in groups.topics.items():
                    if kept(ch, agent) and (topic_id is None or topic == topic_id):
                        _add_shared(per_topic, (topic, metric), cell)
                for (_day, entry, topic, ch, agent, metric), cell in groups.entry_points.items():
                    if kept(ch, agent) and topic == (topic_id or 0):
                        _add_shared(per_entry, (entry, metric), cell)

        if names is None:
            names = await agent_names(session)
        comments = (await _comments(session, date_from, date_to, tz, channel, agent_id, names, comments_limit,
                                    topic_id=topic_id) if comments_limit else [])
        by_topic = await topic_rows(session, per_topic) if topics else []
        by_entry_point = await entry_point_rows(session, per_entry) if topics else []
    sums = cached.plus(sums_of(cells, daily)) if cells or daily else cached
    stats = summarise(
        sums, date_from=date_from, date_to=date_to, timezone=ctx.settings.timezone, channel=channel,
        agent_id=agent_id, agent_names=names, comments=comments, rolled=len(built) + len(partial),
        live=len(live_days), by_topic=by_topic, by_entry_point=by_entry_point,
    )
    stats.topic_id = topic_id
    return stats


async def _read_group_sums(session: AsyncSession, monthly: Any, daily: Any, column: str, date_from: date,
                           date_to: date, built: set[date], channel: str | None, agent_id: int | None,
                           topic_id: int | None) -> dict[tuple[int, str], Cell]:
    """Per topic (or entry point: `column`) and metric, the sums of the range's rolled-up rows
    of that grouping (channels and agents added up after the filters): whole months from the
    monthly table, the other days (the ragged ends, today's partial rows) from the daily one.
    `topic_id`: only that topic's rows (for entry points, 0 is all of their consultations)."""
    months = _full_months(date_from, date_to, built)
    spans = _outside(date_from, date_to, months)
    out: dict[tuple[int, str], Cell] = {}
    queries = []
    for table, where in (
        (monthly, [monthly.c.month.in_(months)] if months else None),
        (daily, [or_(*[and_(daily.c.day >= a, daily.c.day <= b) for a, b in spans])] if spans else None),
    ):
        if where is None:
            continue
        if topic_id is not None:
            where.append(table.c.topic_id == topic_id)
        if channel:
            where.append(table.c.channel == channel)
        if agent_id is not None:
            where.append(table.c.agent_id == agent_id)
        queries.append(select(
            table.c[column], table.c.metric, func.sum(table.c.n), func.sum(table.c.total), *_sum_bins(table),
        ).where(*where).group_by(table.c[column], table.c.metric))
    for query in queries:
        for topic, metric, n, total, *bins in (await _run(session, query)).all():
            _add_daily(out, (topic, metric), Cell(int(n), int(total), [int(b or 0) for b in bins]))  # type: ignore[arg-type]
    return out


async def _live_cells(session: AsyncSession, start: datetime, end: datetime, tz: ZoneInfo, office: OfficeTime,
                      topic_id: int | None, now: datetime, groups: Groups | None = None) -> dict[CellKey, Cell]:
    """The cells of [start, end) from the events and calls: all of them, or (with `topic_id`)
    those of the consultations about that topic, exactly as the per-topic roll-ups would hold them.
    With `groups`, every topic's and entry point's cells are added there too (shared cells:
    never change them).

    The consultations' facts before the last whole minute are final (a fact is dated by the
    event that completes it and depends only on earlier events, written as they happen): they
    are computed once per minute and kept (`_settled_cells`, checked against the events of the
    window), and only the last minute's are computed per answer. The calls are always read (a
    call is logged, and called back, after it started)."""
    mark = _floor(now, SETTLE_STEP)
    need = groups is not None or topic_id is not None  # (the per-topic cells cost two more queries)
    got = Groups()
    if start < mark < end:
        settled, settled_groups = await _settled_cells(session, start, mark, tz, office)  # shared, never changed
        cells = dict(settled)
        rest_groups = Groups()
        for key, cell in (await _event_cells(session, mark, end, tz, office, rest_groups if need else None)).items():
            _add_shared(cells, key, cell)
        if need:
            got.add_shared(settled_groups)
            got.add_shared(rest_groups)
    else:
        cells = await _event_cells(session, start, end, tz, office, got if need else None)
    if groups is not None:
        groups.add_shared(got)
    if topic_id is not None:
        return _of_topic(got.topics, topic_id)
    cells.update(await _call_cells(session, start, end, tz, office))  # never the same keys as the events'
    return cells


def _of_topic(per_topic: TopicCells, topic_id: int) -> dict[CellKey, Cell]:
    return {(day, ch, agent, metric): cell for (day, topic, ch, agent, metric), cell in per_topic.items()
            if topic == topic_id}


async def _settled_cells(session: AsyncSession, start: datetime, mark: datetime, tz: ZoneInfo, office: OfficeTime,
                         ) -> tuple[dict[CellKey, Cell], Groups]:
    """The consultations' cells of [start, mark), `mark` a whole minute in the past, and the
    same per topic and entry point: kept per window (the same assumption as the stored partial
    roll-up: events are written as they happen, so none arrives dated well before now).
    Checked against the events of the window (their number and newest id), so an event deleted
    or written late there is a recomputation, not a stale figure; against the topics set since
    the window began (a topic set now on a consultation of the window moves it to that topic's
    cells); and against the office calendar (office-time metrics)."""
    in_window = [EventRow.at >= start, EventRow.at < mark, EventRow.kind.in_(KINDS)]  # type: ignore[attr-defined]
    window = select(func.count()).select_from(EventRow).where(*in_window)
    newest = select(func.max(EventRow.id)).where(*in_window)
    retopics = select(func.count()).select_from(EventRow).where(EventRow.at >= start, EventRow.kind == "topics_changed")
    count = tuple((await _run(session, select(
        window.scalar_subquery(), newest.scalar_subquery(), retopics.scalar_subquery()))).one())
    key = ("settled", str(session.get_bind().url), _CACHE.generation, start, mark)
    hit = _SETTLED.get(key)
    if hit is None or hit[0] != count or hit[1] != office:
        groups = Groups()
        cells = await _event_cells(session, start, mark, tz, office, groups)
        hit = _SETTLED.put(key, (count, office, cells, groups))
    return hit[2], hit[3]


async def _day_states(session: AsyncSession, date_from: date, date_to: date,
                      ) -> tuple[set[date], dict[date, datetime], tuple[Any, ...]]:
    """The range's days wholly rolled up, the partly rolled-up ones (with their watermark), and
    the build state of every rolled-up day of the range (day, watermark, build time): the cache
    key of their sums, which any (re)build of any of them changes."""
    partial: dict[date, datetime] = {}
    built: set[date] = set()
    rows = (await _run(session, select(
        StatsDay.day, StatsDay.partial_until, StatsDay.built_at,
    ).where(StatsDay.day >= date_from, StatsDay.day <= date_to).order_by(StatsDay.day))).all()
    for day, until, _built_at in rows:
        if until is None:
            built.add(day)
        else:
            partial[day] = until if until.tzinfo else until.replace(tzinfo=UTC)
    return built, partial, tuple(tuple(row) for row in rows)


async def _read_partial(session: AsyncSession, tables: _Tables, days: list[date], filtered: Any,
                        cells: dict[tuple[str, int, str], Cell], daily: dict[tuple[date, str], Cell] | None,
                        ) -> None:
    """The rows of the partly rolled-up days (today up to its watermark) (and their series, with `daily`)."""
    t = tables.daily
    rows = select(
        t.c.channel, t.c.agent_id, t.c.metric, func.sum(t.c.n), func.sum(t.c.total), *_sum_bins(t),
    ).where(t.c.day.in_(days), *filtered(t)).group_by(t.c.channel, t.c.agent_id, t.c.metric)
    for ch, agent, metric, n, total, *bins in (await _run(session, rows)).all():
        _add_daily(cells, (ch, agent, metric), Cell(int(n), int(total), [int(b or 0) for b in bins]))  # type: ignore[arg-type]
    if daily is not None:
        await _read_daily_series(session, t, days, filtered, daily)


def _add_shared(cells: dict[Any, Cell], key: Any, cell: Cell) -> None:
    """Add `cell` at `key` without changing any cell already there (it may be a cached one)."""
    have = cells.get(key)
    cells[key] = cell if have is None else have.plus(cell)


def _live_windows(date_from: date, date_to: date, today: date, built: set[date], partial: dict[date, datetime],
                  tz: ZoneInfo) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """The days not rolled up, and the UTC windows to compute from the events: runs of those
    days, and each partly rolled-up day after its watermark."""
    live_days = [
        date_from + timedelta(days=i) for i in range((min(date_to, today) - date_from).days + 1)
        if date_from + timedelta(days=i) not in built
    ]
    windows = [day_window(first, last, tz) for first, last in _runs([d for d in live_days if d not in partial])]
    for day, until in partial.items():
        windows.append((until, day_window(day, day, tz)[1]))
    return live_days, windows


async def agent_names(session: AsyncSession) -> dict[int, str]:
    return dict((await _run(session, select(Agent.id, Agent.name))).all())


async def query_compared(
    ctx: HubContext, date_from: date, date_to: date, *, channel: str | None = None, agent_id: int | None = None,
    topic_id: int | None = None, comments_limit: int = 100,
) -> Stats:
    """`query_stats` with `previous` (the range of equal length before) and `year_ago` (the same
    dates a year earlier, when anything was recorded then). Both are finished days, so their
    sums come from the roll-ups' cache after the first call."""
    # Three ranges, three sessions: their database round trips overlap. One calendar and one
    # read of the agents' names for all three.
    office = await office_time(ctx)
    async with ctx.sessionmaker() as session:
        names = await agent_names(session)
    stats, before, year = await asyncio.gather(
        query_stats(ctx, date_from, date_to, channel=channel, agent_id=agent_id, topic_id=topic_id,
                    comments_limit=comments_limit, office=office, names=names),
        query_stats(ctx, *previous_range(date_from, date_to), channel=channel, agent_id=agent_id, topic_id=topic_id,
                    comments_limit=0, topics=False, office=office, series=False, names=names),
        query_stats(ctx, *year_ago_range(date_from, date_to), channel=channel, agent_id=agent_id, topic_id=topic_id,
                    comments_limit=0, topics=False, office=office, series=False, names=names),
    )
    stats.previous = before.headline()
    if has_data(year.headline()):
        stats.year_ago = year.headline()
    return stats


DayCells = dict[tuple[date, str, str], Cell]  # (office day, channel, metric) -> cell, agents added up


async def query_day_cells(
    ctx: HubContext, date_from: date, date_to: date, *, channel: str | None = None, agent_id: int | None = None,
    topic_id: int | None = None,
) -> DayCells:
    """Every metric per office day and channel over the range (for trends and the daily table):
    finished days from `stats_daily` (cached like `query_stats`), the rest from the events.
    With `topic_id`, only the consultations about that topic (from `stats_daily_topic`)."""
    tz = office_tz(ctx)
    office = await office_time(ctx)
    today = office_today(ctx)
    now = ctx.clock.now()
    tables = _Tables(topic_id)
    table = tables.daily

    def filtered(table: Any) -> list[Any]:
        return tables.where(table, channel, agent_id)

    async def read(where: list[Any], into: DayCells) -> None:
        stmt = select(
            table.c.day, table.c.channel, table.c.metric, func.sum(table.c.n), func.sum(table.c.total),
            *[func.sum(table.c[b]).label(b) for b in BIN_COLUMNS],
        ).where(*where, *filtered(table)).group_by(table.c.day, table.c.channel, table.c.metric)
        for day, ch, metric, n, total, *bins in (await _run(session, stmt)).all():
            day = day if isinstance(day, date) else date.fromisoformat(str(day))
            cell = Cell(int(n), int(total), [int(b or 0) for b in bins])
            _add_daily(into, (day, ch, metric), cell)  # type: ignore[arg-type]

    async with ctx.sessionmaker() as session:
        built, partial, states = await _day_states(session, date_from, date_to)
        # Cached like `query_stats`'s sums: every rolled-up day, under the range's build state.
        key = ("days", ctx.settings.effective_database_url, _CACHE.generation, date_from, date_to, channel, agent_id,
               topic_id, states)
        cached = _CACHE.get(key)
        if cached is None:
            done: DayCells = {}
            if built or partial:
                await read([table.c.day >= date_from, table.c.day <= date_to], done)
            cached = _CACHE.put(key, done)
        out: DayCells = dict(cached)  # shared cells, never changed
        for start, end in _live_windows(date_from, date_to, today, built, partial, tz)[1]:
            cells = await _live_cells(session, start, end, tz, office, topic_id, now)
            for (day, ch, agent, metric), cell in cells.items():
                if (channel and ch != channel) or (agent_id is not None and agent != agent_id):
                    continue
                _add_shared(out, (day, ch, metric), cell)
    return out


async def query_trends(
    ctx: HubContext, date_from: date, date_to: date, period: str, *, channel: str | None = None,
    agent_id: int | None = None, topic_id: int | None = None,
) -> Trends:
    """The trend lines of the range, one point per day, ISO week or month."""
    cells = await query_day_cells(ctx, date_from, date_to, channel=channel, agent_id=agent_id, topic_id=topic_id)
    per_day: dict[tuple[date, str], Cell] = {}
    for (day, _ch, metric), cell in cells.items():
        _add_daily(per_day, (day, metric), cell)
    return Trends(date_from, date_to, period, channel, agent_id, trend_points(per_day, date_from, date_to, period),
                  topic_id=topic_id)


class _Lru:
    """A small LRU of finished days' sums. Its key holds the days' latest `built_at` (a rebuild
    by the scheduler, in any process, changes it) and `generation`, bumped by every build in
    this process (tests rebuild at one fake instant)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.generation = 0

    def get(self, key: Any) -> Any:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> Any:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        self.items.clear()


_CACHE = _Lru(64)
_SETTLED = _Lru(8)  # today's consultations' cells before the watermark, when today is not rolled up


def forget_cached_stats() -> None:
    """Drop the cached sums of finished days (after writing roll-up rows by hand, e.g. in tests)."""
    _CACHE.clear()
    _SETTLED.clear()


async def _read_finished(
    session: AsyncSession, tables: _Tables, date_from: date, date_to: date, built: set[date],
    partial: dict[date, datetime], filtered: Any, cells: dict[tuple[str, int, str], Cell],
    daily: dict[tuple[date, str], Cell] | None,
) -> None:
    """The sums of the finished days of the range: whole months from the monthly table, the
    range's ragged ends from the daily one; and (with `daily`) the per-day consultation series."""
    months = _full_months(date_from, date_to, built)
    spans = _outside(date_from, date_to, months)
    monthly, days = tables.monthly, tables.daily
    queries = []
    if months:
        queries.append(select(
            monthly.c.channel, monthly.c.agent_id, monthly.c.metric,
            func.sum(monthly.c.n), func.sum(monthly.c.total), *_sum_bins(monthly),
        ).where(monthly.c.month.in_(months), *filtered(monthly)).group_by(
            monthly.c.channel, monthly.c.agent_id, monthly.c.metric))
    not_partial = [days.c.day.notin_(list(partial))] if partial else []
    if spans:
        queries.append(select(
            days.c.channel, days.c.agent_id, days.c.metric,
            func.sum(days.c.n), func.sum(days.c.total), *_sum_bins(days),
        ).where(
            or_(*[and_(days.c.day >= a, days.c.day <= b) for a, b in spans]),
            *not_partial, *filtered(days),
        ).group_by(days.c.channel, days.c.agent_id, days.c.metric))
    for query in queries:
        for ch, agent, metric, n, total, *bins in (await _run(session, query)).all():
            key = (ch, agent, metric)
            cell = Cell(int(n), int(total), [int(b or 0) for b in bins])
            if key in cells:
                cells[key].merge(cell)
            else:
                cells[key] = cell
    per_day = select(
        days.c.day, days.c.channel, func.sum(days.c.n), *[func.sum(days.c[b]) for b in BIN_COLUMNS[:24]],
    ).where(days.c.day >= date_from, days.c.day <= date_to, days.c.metric == M.CONSULTATIONS,
            *not_partial, *filtered(days)).group_by(days.c.day, days.c.channel)
    if daily is not None:
        await _collect_series(session, per_day, daily)


async def _read_daily_series(session: AsyncSession, table: Any, days: list[date], filtered: Any,
                             daily: dict[tuple[date, str], Cell]) -> None:
    per_day = select(
        table.c.day, table.c.channel, func.sum(table.c.n), *[func.sum(table.c[b]) for b in BIN_COLUMNS[:24]],
    ).where(table.c.day.in_(days), table.c.metric == M.CONSULTATIONS, *filtered(table)).group_by(
        table.c.day, table.c.channel)
    await _collect_series(session, per_day, daily)


async def _collect_series(session: AsyncSession, stmt: Any, daily: dict[tuple[date, str], Cell]) -> None:
    for day, ch, n, *hours in (await _run(session, stmt)).all():
        key = (day if isinstance(day, date) else date.fromisoformat(str(day)), ch)
        _add_daily(daily, key, Cell(int(n), 0, [int(h or 0) for h in hours] + [0] * (STATS_BINS - 24)))


def _full_months(date_from: date, date_to: date, built: set[date]) -> list[date]:
    """First days of the months wholly inside the range and wholly rolled up."""
    months = []
    first = date_from.replace(day=1)
    while first <= date_to:
        start, end = month_bounds(first)
        if start >= date_from and end <= date_to and all(
            start + timedelta(days=i) in built for i in range((end - start).days + 1)
        ):
            months.append(start)
        first = end + timedelta(days=1)
    return months


def _outside(date_from: date, date_to: date, months: list[date]) -> list[tuple[date, date]]:
    """The spans of the range not covered by `months` (whole months, in order)."""
    spans = []
    cursor = date_from
    for m in months:
        if cursor < m:
            spans.append((cursor, m - timedelta(days=1)))
        cursor = month_bounds(m)[1] + timedelta(days=1)
    if cursor <= date_to:
        spans.append((cursor, date_to))
    return spans


def _add_daily(daily: dict[tuple[date, str], Cell], key: tuple[date, str], cell: Cell) -> None:
    if key in daily:
        daily[key].merge(cell)
    else:
        daily[key] = Cell(cell.n, cell.total, list(cell.bins))


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) runs."""
    runs: list[tuple[date, date]] = []
    for d in days:
        if runs and runs[-1][1] + timedelta(days=1) == d:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def _comments_query(date_from: date, date_to: date, tz: ZoneInfo, channel: str | None, agent_id: int | None,
                    rating: int | None, topic_id: int | None = None) -> Any:
    start, end = day_window(date_from, date_to, tz)
    stmt = (
        select(SurveyResponse.answered_at, SurveyResponse.rating, SurveyResponse.comment, SurveyResponse.channel,
               SurveyResponse.agent_id, Ticket.reference)
        .join(Ticket, Ticket.id == SurveyResponse.ticket_id)  # type: ignore[arg-type]
        .where(SurveyResponse.answered_at >= start, SurveyResponse.answered_at < end,  # type: ignore[operator]
               SurveyResponse.comment != "")
    )
    if channel:
        stmt = stmt.where(SurveyResponse.channel == channel)
    if agent_id is not None:
        stmt = stmt.where(SurveyResponse.agent_id == agent_id)
    if rating is not None:
        stmt = stmt.where(SurveyResponse.rating == rating)
    if topic_id is not None:
        stmt = stmt.where(SurveyResponse.ticket_id.in_(  # type: ignore[union-attr]
            select(TicketTopic.ticket_id).where(TicketTopic.topic_id == topic_id)))
    return stmt


async def _comments(
    session: AsyncSession, date_from: date, date_to: date, tz: ZoneInfo, channel: str | None,
    agent_id: int | None, names: dict[int, str], limit: int, rating: int | None = None, offset: int = 0,
    topic_id: int | None = None,
) -> list[Comment]:
    newest = (SurveyResponse.answered_at.desc(), SurveyResponse.id.desc())  # type: ignore[union-attr]
    stmt = (_comments_query(date_from, date_to, tz, channel, agent_id, rating, topic_id)
            .order_by(*newest).offset(offset).limit(limit))
    return [
        Comment(at, rating or 0, comment, ch, agent, names.get(agent or 0, ""), ref or "")
        for at, rating, comment, ch, agent, ref in (await _run(session, stmt)).all()
    ]


async def query_comments(
    ctx: HubContext, date_from: date, date_to: date, *, channel: str | None = None, agent_id: int | None = None,
    rating: int | None = None, offset: int = 0, limit: int = 10, topic_id: int | None = None,
) -> CommentPage:
    """One page of the survey comments of the range (newest first), optionally of one rating
    and of the consultations about one topic."""
    tz = office_tz(ctx)
    async with ctx.sessionmaker() as session:
        total = (await _run(session, select(func.count()).select_from(
            _comments_query(date_from, date_to, tz, channel, agent_id, rating, topic_id).subquery()))).scalar() or 0
        names = await agent_names(session)
        comments = await _comments(session, date_from, date_to, tz, channel, agent_id, names, limit, rating, offset,
                                   topic_id=topic_id)
    return CommentPage(total=int(total), offset=offset, limit=limit, rating=rating, comments=comments)


async def query_backlog(ctx: HubContext) -> Backlog:
    """The queue right now (never from roll-ups)."""
    now = ctx.clock.now()
    open_statuses = [Status.IDENTIFYING.value, Status.WAITING.value, Status.ASSIGNED.value, Status.PENDING.value]
    async with ctx.sessionmaker() as session:
        counts = (await _run(session, 
            select(Ticket.channel, Ticket.status, func.count())
            .where(Ticket.status.in_(open_statuses))  # type: ignore[attr-defined]
            .group_by(Ticket.channel, Ticket.status)
        )).all()
        oldest = (await _run(session, 
            select(Ticket.id, Ticket.queued_at).where(Ticket.status == Status.WAITING.value)
            .order_by(Ticket.queued_at.asc(), Ticket.id.asc()).limit(1)  # type: ignore[union-attr]
        )).first()
        presence = dict((await _run(session, 
            select(Agent.presence, func.count()).where(Agent.active == True).group_by(Agent.presence)  # noqa: E712
        )).all())
    by_channel: dict[str, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for ch, status, n in counts:
        by_channel[ch][status] = n
        totals[status] += n
    longest = None
    if oldest is not None and oldest[1] is not None:
        longest = max(0, round((now - oldest[1]).total_seconds()))
    return Backlog(
        at=now, waiting=totals[Status.WAITING.value], identifying=totals[Status.IDENTIFYING.value],
        assigned=totals[Status.ASSIGNED.value], pending=totals[Status.PENDING.value], by_channel=dict(by_channel),
        longest_wait_s=longest, oldest_waiting_ticket_id=oldest[0] if oldest else None,
        agents_available=presence.get("available", 0), agents_away=presence.get("away", 0),
    )


__all__ = [
    "build_days", "build_due", "compute_cells", "office_today", "office_tz", "query_backlog", "query_compared",
    "query_comments", "query_day_cells", "query_stats", "query_trends",
]
