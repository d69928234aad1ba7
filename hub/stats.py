"""Metrics from events: the definitions of docs/metrics.md as pure functions, and the result shapes.

No I/O here. `facts_of` turns one consultation's event history into facts (metric, time,
channel, agent, value); `calls_facts` does the same for a logged call. Facts are added up into
`Cell`s (count, sum, histogram) per office day x channel x agent x metric, which is also the
shape of a `stats_daily` roll-up row, and `summarise` turns cells into the `Stats` managers read.
`hub/rollups.py` does the reading and writing.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from hub.calendar import OfficeCalendar
from hub.db.tables import STATS_BINS
from hub.tickets import EventKind

# Histogram bucket upper edges, seconds (see "Percentiles from buckets" in docs/metrics.md).
EDGES: tuple[int, ...] = (
    15, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400,
    21600, 28800, 43200, 86400, 129600, 172800, 259200, 432000, 604800, 1209600, 2592000,
)
assert len(EDGES) + 1 <= STATS_BINS


class M:
    """Metric names, as stored in `stats_daily.metric`."""

    CONSULTATIONS = "consultations"  # bins: local hour of creation
    IDENTIFIED = "identified"  # duration: created -> identified
    ABANDONED = "abandoned"  # duration: created -> closed unidentified
    WAIT = "wait"
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"  # n: resolved consultations
    RESOLVED_NO_REPLY = "resolved_no_reply"
    TRANSFERS = "transfers"
    SURVEY_SENT = "survey_sent"
    SURVEY_ANSWERED = "survey_answered"  # bins: rating - 1; total: sum of ratings
    CALL_ANSWERED = "call_answered"
    CALL_RING = "call_ring_wait"  # duration: ring wait (when the provider reported it)
    CALL_TALK = "call_talk"  # duration: talking time
    CALL_MISSED = "call_missed"
    CALL_CALLED_BACK = "call_called_back"
    CALL_OUTBOUND = "call_outbound"
    # The same durations counted in office time (hub/calendar.py), and the SLA and window counts
    WAIT_OFFICE = "wait_office"
    FIRST_RESPONSE_OFFICE = "first_response_office"
    RESOLUTION_OFFICE = "resolution_office"
    FIRST_RESPONSE_IN_SLA = "first_response_in_sla"  # n: first replies within HUB_SLA_FIRST_RESPONSE
    REPLY_OUTSIDE_WINDOW = "reply_outside_window"  # n: WhatsApp replies sent as the template
    CALL_MISSED_OUTSIDE_HOURS = "call_missed_outside_hours"  # inbound, unanswered, office closed


DURATIONS = frozenset({
    M.IDENTIFIED, M.ABANDONED, M.WAIT, M.FIRST_RESPONSE, M.RESOLUTION, M.CALL_RING, M.CALL_TALK,
    M.WAIT_OFFICE, M.FIRST_RESPONSE_OFFICE, M.RESOLUTION_OFFICE,
})

# The event kinds the metrics read (everything else in a history is ignored).
KINDS: tuple[str, ...] = tuple(k.value for k in (
    EventKind.CREATED, EventKind.IDENTIFIED, EventKind.CLOSED_UNIDENTIFIED, EventKind.QUEUED,
    EventKind.ASSIGNED, EventKind.TRANSFERRED, EventKind.UNASSIGNED, EventKind.FIRST_AGENT_REPLY,
    EventKind.AGENT_REPLIED, EventKind.RESOLVED, EventKind.SURVEY_SENT, EventKind.SURVEY_ANSWERED,
    EventKind.REPLY_OUTSIDE_WINDOW,
))


@dataclass(frozen=True)
class OfficeTime:
    """What office-time metrics need: the calendar and the first-response target."""

    calendar: OfficeCalendar
    sla_s: float

    def seconds(self, a: datetime, b: datetime) -> int:
        return max(0, round(self.calendar.office_seconds_between(a, b)))


def bucket(seconds: float) -> int:
    """The histogram bucket of a duration: an edge value belongs to the bucket it closes."""
    return bisect.bisect_left(EDGES, max(0.0, seconds))


def percentile(bins: Iterable[int], p: int) -> int | None:
    """The smallest edge with at least p % of the samples at or below it (nearest rank)."""
    counts = list(bins)[: len(EDGES) + 1]
    n = sum(counts)
    if n == 0:
        return None
    rank = max(1, -(-p * n // 100))
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= rank:
            return EDGES[min(i, len(EDGES) - 1)]
    return EDGES[-1]  # pragma: no cover - the loop always reaches rank


# Facts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    metric: str
    at: datetime
    channel: str
    agent_id: int  # 0: nobody
    value: int | None = None  # seconds, or a rating
    bin: int | None = None


@dataclass(frozen=True)
class Ev:
    """The part of an event row the metrics read."""

    kind: str
    at: datetime
    agent_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _secs(a: datetime, b: datetime) -> int:
    return max(0, round((b - a).total_seconds()))


def _duration(metric: str, at: datetime, channel: str, agent: int | None, seconds: int) -> Fact:
    return Fact(metric, at, channel, agent or 0, seconds, bucket(seconds))


def facts_of(channel: str, events: Iterable[Ev], tz: ZoneInfo, office: OfficeTime | None = None,
             since: datetime | None = None) -> Iterator[Fact]:
    """One consultation's history (ordered by time, then id) as facts. Pure; see docs/metrics.md.

    With `office`, waiting, first response and resolution are also measured in office time
    (`*_office`), and a first response within the SLA (office time) counts `first_response_in_sla`.
    With `since`, the facts dated before it are left out (their events still set the state the
    later facts read), and office time is measured only for the others: a window's facts
    without measuring the whole history on the calendar.
    """
    if since is None:
        yield from _facts(channel, events, tz, office, None)
    else:
        yield from (f for f in _facts(channel, events, tz, office, since) if f.at >= since)


def _facts(channel: str, events: Iterable[Ev], tz: ZoneInfo, calendar: OfficeTime | None,
           since: datetime | None) -> Iterator[Fact]:
    created: datetime | None = None
    first_queued: datetime | None = None
    stay: datetime | None = None  # start of the current queue stay
    owner: int | None = None
    replied = False
    resolver: int | None = None
    for e in events:
        k = e.kind
        # A fact is dated by its event: before `since` it is dropped, so its office time is not measured.
        office = calendar if since is None or e.at >= since else None
        if k == EventKind.CREATED:
            created = e.at
            yield Fact(M.CONSULTATIONS, e.at, channel, 0, None, e.at.astimezone(tz).hour)
        elif created is None:
            continue  # a history cut before its creation cannot be measured
        elif k == EventKind.IDENTIFIED:
            yield _duration(M.IDENTIFIED, e.at, channel, None, _secs(created, e.at))
        elif k == EventKind.CLOSED_UNIDENTIFIED:
            yield _duration(M.ABANDONED, e.at, channel, None, _secs(created, e.at))
        elif k == EventKind.QUEUED:
            first_queued = first_queued or e.at
            stay = stay or e.at
        elif k == EventKind.ASSIGNED:
            owner = e.agent_id
            if channel == "phone" and stay == created == e.at:
                stay = None  # a call logged after it was handled never waited in our queue
            if stay is not None:
                yield _duration(M.WAIT, e.at, channel, owner, _secs(stay, e.at))
                if office is not None:
                    yield _duration(M.WAIT_OFFICE, e.at, channel, owner, office.seconds(stay, e.at))
                stay = None
        elif k == EventKind.TRANSFERRED:
            owner = e.agent_id
            yield Fact(M.TRANSFERS, e.at, channel, owner or 0)
        elif k == EventKind.UNASSIGNED:
            owner = None
        elif k == EventKind.AGENT_REPLIED:
            replied = True
        elif k == EventKind.FIRST_AGENT_REPLY:
            replied = True
            yield _duration(M.FIRST_RESPONSE, e.at, channel, e.agent_id, _secs(first_queued or created, e.at))
            if office is not None:
                in_office = office.seconds(first_queued or created, e.at)
                yield _duration(M.FIRST_RESPONSE_OFFICE, e.at, channel, e.agent_id, in_office)
                if in_office <= office.sla_s:
                    yield Fact(M.FIRST_RESPONSE_IN_SLA, e.at, channel, e.agent_id or 0)
        elif k == EventKind.REPLY_OUTSIDE_WINDOW:
            yield Fact(M.REPLY_OUTSIDE_WINDOW, e.at, channel, e.agent_id or 0)
        elif k == EventKind.RESOLVED:
            resolver = owner or e.agent_id
            if stay is not None:
                yield _duration(M.WAIT, e.at, channel, resolver, _secs(stay, e.at))
                if office is not None:
                    yield _duration(M.WAIT_OFFICE, e.at, channel, resolver, office.seconds(stay, e.at))
                stay = None
            yield _duration(M.RESOLUTION, e.at, channel, resolver, _secs(first_queued or created, e.at))
            if office is not None:
                yield _duration(M.RESOLUTION_OFFICE, e.at, channel, resolver, office.seconds(first_queued or created, e.at))
            if not replied:
                yield Fact(M.RESOLVED_NO_REPLY, e.at, channel, resolver or 0)
        elif k == EventKind.SURVEY_SENT:
            yield Fact(M.SURVEY_SENT, e.at, channel, resolver or owner or 0)
        elif k == EventKind.SURVEY_ANSWERED:
            rating = int(e.data.get("rating", 0))
            if 1 <= rating <= 5:
                yield Fact(M.SURVEY_ANSWERED, e.at, channel, e.agent_id or 0, rating, rating - 1)


@dataclass(frozen=True)
class CallRow:
    started_at: datetime
    direction: str
    outcome: str | None
    done: bool
    agent_id: int | None
    wait_s: int | None
    duration_s: int | None
    state: str = "ended"
    number: str = ""


def call_facts(call: CallRow, office: OfficeTime | None = None) -> Iterator[Fact]:
    """A logged call as facts; calls still ringing or in progress are not counted yet. With
    `office`, an unanswered inbound call while the office was closed is `missed_outside_hours`,
    not a call the agents missed (a call-back is still counted when it is done)."""
    at, agent = call.started_at, call.agent_id
    if call.state != "ended":
        return
    if (office is not None and call.direction != "outbound" and call.outcome != "answered"
            and not office.calendar.is_open(at)):
        yield Fact(M.CALL_MISSED_OUTSIDE_HOURS, at, "phone", agent or 0)
        if call.done and call.number not in ("", "anonymous"):
            yield Fact(M.CALL_CALLED_BACK, at, "phone", agent or 0)
        return
    if call.direction == "outbound":
        yield Fact(M.CALL_OUTBOUND, at, "phone", agent or 0)
    elif call.outcome == "answered":
        yield Fact(M.CALL_ANSWERED, at, "phone", agent or 0)
        if call.wait_s is not None:
            yield _duration(M.CALL_RING, at, "phone", agent, max(0, call.wait_s))
    else:
        yield Fact(M.CALL_MISSED, at, "phone", agent or 0)
        # An anonymous missed call is "done" at once (nobody can call it back): not a call-back.
        if call.done and call.number not in ("", "anonymous"):
            yield Fact(M.CALL_CALLED_BACK, at, "phone", agent or 0)
    if call.outcome == "answered" and call.duration_s is not None:
        yield _duration(M.CALL_TALK, at, "phone", agent, max(0, call.duration_s))


# Cells: what a roll-up row holds ------------------------------------------------------------


@dataclass
class Cell:
    n: int = 0
    total: int = 0
    bins: list[int] = field(default_factory=lambda: [0] * STATS_BINS)

    def add(self, fact: Fact) -> None:
        self.n += 1
        self.total += fact.value or 0
        if fact.bin is not None:
            self.bins[fact.bin] += 1

    def merge(self, other: "Cell") -> None:
        self.n += other.n
        self.total += other.total
        self.bins = list(map(operator.add, self.bins, other.bins))

    def plus(self, other: "Cell") -> "Cell":
        """The sum as a new cell (neither is changed: cached cells are shared, never copied)."""
        return Cell(self.n + other.n, self.total + other.total, list(map(operator.add, self.bins, other.bins)))


CellKey = tuple[date, str, int, str]  # office day, channel, agent (0 = none), metric


def add_up(facts: Iterable[Fact], tz: ZoneInfo, start: datetime, end: datetime) -> dict[CellKey, Cell]:
    """Facts that happened in [start, end), added up per office day x channel x agent x metric."""
    cells: dict[CellKey, Cell] = {}
    for f in facts:
        if not (start <= f.at < end):
            continue
        key = (f.at.astimezone(tz).date(), f.channel, f.agent_id, f.metric)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell()
        cell.add(f)
    return cells


def day_window(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight starting `first` and local midnight ending `last`."""
    from datetime import UTC, time

    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


# What managers read ---------------------------------------------------------------------------


class Duration(msgspec.Struct):
    count: int
    average_s: float | None
    median_s: int | None
    p90_s: int | None


class FirstResponse(Duration):
    within_sla: float | None = None  # share of first replies within HUB_SLA_FIRST_RESPONSE, office time
    outside_sla: int = 0  # first replies later than that (the drill-down's `outside_sla=1`)


class Figures(msgspec.Struct):
    consultations: int
    handled: int  # resolved consultations
    resolved_without_reply: int
    transfers: int
    identified: int
    abandoned: int
    abandon_rate: float | None
    identification: Duration
    wait: Duration
    first_response: FirstResponse
    resolution: Duration
    surveys_sent: int
    surveys_answered: int
    satisfaction_average: float | None
    # Office time (HUB_OFFICE_HOURS, holidays, closures): the clock stops while the office is closed
    wait_office: Duration = msgspec.field(default_factory=lambda: Duration(0, None, None, None))
    first_response_office: Duration = msgspec.field(default_factory=lambda: Duration(0, None, None, None))
    resolution_office: Duration = msgspec.field(default_factory=lambda: Duration(0, None, None, None))
    replies_outside_window: int = 0  # WhatsApp replies that had to go as the template (window closed)


class ChannelFigures(msgspec.Struct):
    channel: str
    figures: Figures


class AgentFigures(msgspec.Struct):
    agent_id: int
    name: str
    figures: Figures


class Satisfaction(msgspec.Struct):
    sent: int
    answered: int
    response_rate: float | None
    average: float | None
    share_4_5: float | None
    distribution: list[int]  # answers rated 1, 2, 3, 4, 5


class Calls(msgspec.Struct):
    answered: int
    missed: int  # by the agents: in office hours
    called_back: int
    outbound: int
    answer_rate: float | None
    ring_wait: Duration
    talk: Duration
    missed_outside_hours: int = 0  # inbound calls nobody answered while the office was closed


class Period(msgspec.Struct):
    period: str  # 2026-03-02, 2026-W10 or 2026-03
    total: int
    by_channel: dict[str, int]


class Comment(msgspec.Struct):
    answered_at: datetime
    rating: int
    comment: str
    channel: str
    agent_id: int | None
    agent_name: str
    reference: str


class CommentPage(msgspec.Struct):
    total: int  # comments matching (all pages)
    offset: int
    limit: int
    rating: int | None
    comments: list[Comment]


class TopicFigures(msgspec.Struct):
    """One topic's key figures: those of the statistics filtered by the topic (hub/topic_stats.py)."""

    topic_id: int
    key: str
    names: dict[str, str]
    consultations: int
    resolved: int
    wait: Duration
    resolution: Duration
    surveys_answered: int
    satisfaction_average: float | None


class EntryPointFigures(msgspec.Struct):
    """One entry point's key figures (hub/entry_point_stats.py), like a topic's."""

    entry_point_id: int
    label: str
    topic_id: int | None
    active: bool
    consultations: int
    resolved: int
    wait: Duration
    resolution: Duration
    surveys_answered: int
    satisfaction_average: float | None


class PeriodFigures(msgspec.Struct):
    """The headline figures of one range (the `previous` and `year_ago` of a comparison)."""

    date_from: date
    date_to: date
    totals: Figures
    by_channel: list[ChannelFigures]
    by_agent: list[AgentFigures]
    calls: Calls
    satisfaction: Satisfaction


class Stats(msgspec.Struct, omit_defaults=True):
    date_from: date
    date_to: date
    timezone: str
    channel: str | None
    agent_id: int | None
    totals: Figures
    by_channel: list[ChannelFigures]
    by_agent: list[AgentFigures]
    calls: Calls
    satisfaction: Satisfaction
    daily: list[Period]
    weekly: list[Period]
    monthly: list[Period]
    busiest_hours: list[list[int]]  # [weekday Monday=0][hour 0-23]: consultations created
    comments: list[Comment]
    days_from_rollups: int
    days_computed_live: int
    by_topic: list[TopicFigures]  # always present (omit_defaults would drop an empty default)
    by_entry_point: list[EntryPointFigures]  # always present, like by_topic
    # With `compare=previous` only: the previous range of equal length, and the same dates a
    # year earlier when anything was recorded then.
    previous: PeriodFigures | None = None
    year_ago: PeriodFigures | None = None
    # With `topic`: only the consultations about that topic (calls have no topic: none counted).
    topic_id: int | None = None

    def headline(self) -> PeriodFigures:
        return PeriodFigures(self.date_from, self.date_to, self.totals, self.by_channel, self.by_agent, self.calls,
                             self.satisfaction)


class Backlog(msgspec.Struct):
    at: datetime
    waiting: int
    identifying: int
    assigned: int
    pending: int
    by_channel: dict[str, dict[str, int]]
    longest_wait_s: int | None
    oldest_waiting_ticket_id: int | None
    agents_available: int
    agents_away: int


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def duration_of(cell: Cell | None) -> Duration:
    if cell is None or cell.n == 0:
        return Duration(0, None, None, None)
    return Duration(cell.n, round(cell.total / cell.n, 1), percentile(cell.bins, 50), percentile(cell.bins, 90))


def figures_of(cells: dict[str, Cell]) -> Figures:
    def n(metric: str) -> int:
        cell = cells.get(metric)
        return cell.n if cell else 0

    answered = cells.get(M.SURVEY_ANSWERED)
    return Figures(
        consultations=n(M.CONSULTATIONS), handled=n(M.RESOLUTION), resolved_without_reply=n(M.RESOLVED_NO_REPLY),
        transfers=n(M.TRANSFERS), identified=n(M.IDENTIFIED), abandoned=n(M.ABANDONED),
        abandon_rate=_ratio(n(M.ABANDONED), n(M.ABANDONED) + n(M.IDENTIFIED)),
        identification=duration_of(cells.get(M.IDENTIFIED)), wait=duration_of(cells.get(M.WAIT)),
        first_response=FirstResponse(**msgspec.structs.asdict(duration_of(cells.get(M.FIRST_RESPONSE))),
                                     within_sla=_ratio(n(M.FIRST_RESPONSE_IN_SLA), n(M.FIRST_RESPONSE_OFFICE)),
                                     outside_sla=n(M.FIRST_RESPONSE_OFFICE) - n(M.FIRST_RESPONSE_IN_SLA)),
        resolution=duration_of(cells.get(M.RESOLUTION)),
        wait_office=duration_of(cells.get(M.WAIT_OFFICE)),
        first_response_office=duration_of(cells.get(M.FIRST_RESPONSE_OFFICE)),
        resolution_office=duration_of(cells.get(M.RESOLUTION_OFFICE)),
        replies_outside_window=n(M.REPLY_OUTSIDE_WINDOW),
        surveys_sent=n(M.SURVEY_SENT), surveys_answered=n(M.SURVEY_ANSWERED),
        satisfaction_average=round(answered.total / answered.n, 2) if answered and answered.n else None,
    )


def _merge_into(target: dict[Any, Cell], key: Any, cell: Cell) -> None:
    if key in target:
        target[key].merge(cell)
    else:
        copy = Cell(cell.n, cell.total, list(cell.bins))
        target[key] = copy


def _sum_cells(cells: list[Cell]) -> Cell:
    """The sum of the cells as a new cell (none of them is changed)."""
    if len(cells) == 1:
        c = cells[0]
        return Cell(c.n, c.total, list(c.bins))
    return Cell(sum(c.n for c in cells), sum(c.total for c in cells), [sum(col) for col in zip(*(c.bins for c in cells))])


def _periods(daily: dict[tuple[str, str], int]) -> list[Period]:
    out: dict[str, Period] = {}
    for (label, channel), count in sorted(daily.items()):
        p = out.get(label) or out.setdefault(label, Period(label, 0, {}))
        p.total += count
        p.by_channel[channel] = p.by_channel.get(channel, 0) + count
    return list(out.values())


@dataclass
class Sums:
    """What `summarise` reads, added up: per metric over everything, per channel, per agent, and
    the consultations per day / ISO week / month label and channel, and per weekday x hour.
    The sums of the rolled-up days are kept (hub/rollups.py) and the live cells added with
    `plus`, so an answer does not add up a year of cells again."""

    total: dict[str, Cell] = field(default_factory=dict)
    per_channel: dict[str, dict[str, Cell]] = field(default_factory=dict)
    per_agent: dict[int, dict[str, Cell]] = field(default_factory=dict)
    days: dict[tuple[str, str], int] = field(default_factory=dict)
    weeks: dict[tuple[str, str], int] = field(default_factory=dict)
    months: dict[tuple[str, str], int] = field(default_factory=dict)
    heat: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])

    def plus(self, other: "Sums") -> "Sums":
        """The sum as new sums (neither is changed: cached ones are shared)."""
        def cells(a: dict[Any, Cell], b: dict[Any, Cell]) -> dict[Any, Cell]:
            out = dict(a)
            for key, cell in b.items():
                have = out.get(key)
                out[key] = cell if have is None else have.plus(cell)
            return out

        def nested(a: dict[Any, dict[str, Cell]], b: dict[Any, dict[str, Cell]]) -> dict[Any, dict[str, Cell]]:
            out = dict(a)
            for key, inner in b.items():
                out[key] = cells(out.get(key, {}), inner)
            return out

        def counts(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
            out = dict(a)
            for key, n in b.items():
                out[key] = out.get(key, 0) + n
            return out

        return Sums(cells(self.total, other.total), nested(self.per_channel, other.per_channel),
                    nested(self.per_agent, other.per_agent), counts(self.days, other.days),
                    counts(self.weeks, other.weeks), counts(self.months, other.months),
                    [[x + y for x, y in zip(a, b)] for a, b in zip(self.heat, other.heat)])


def sums_of(cells: dict[tuple[str, int, str], Cell], daily: dict[tuple[date, str], Cell]) -> Sums:
    """Cells (channel, agent, metric) and daily consultation cells (day, channel), added up."""
    # Grouped first, then each group added up once, column by column (not cell after cell).
    by_metric: dict[str, list[Cell]] = {}
    by_channel: dict[str, dict[str, list[Cell]]] = {}
    by_agent: dict[int, dict[str, list[Cell]]] = {}
    for (ch, agent, metric), cell in cells.items():
        by_metric.setdefault(metric, []).append(cell)
        by_channel.setdefault(ch, {}).setdefault(metric, []).append(cell)
        if agent:
            by_agent.setdefault(agent, {}).setdefault(metric, []).append(cell)
    sums = Sums(
        total={metric: _sum_cells(group) for metric, group in by_metric.items()},
        per_channel={ch: {metric: _sum_cells(group) for metric, group in metrics.items()}
                     for ch, metrics in by_channel.items()},
        per_agent={agent: {metric: _sum_cells(group) for metric, group in metrics.items()}
                   for agent, metrics in by_agent.items()},
    )
    labels: dict[date, tuple[str, str, str]] = {}
    hours_by_weekday: list[list[list[int]]] = [[] for _ in range(7)]
    for (day, ch), cell in daily.items():
        names = labels.get(day)
        if names is None:
            iso = day.isocalendar()
            names = labels[day] = (day.isoformat(), f"{iso.year}-W{iso.week:02d}", f"{day.year}-{day.month:02d}")
        for bucket_map, label in zip((sums.days, sums.weeks, sums.months), names):
            bucket_map[(label, ch)] = bucket_map.get((label, ch), 0) + cell.n
        hours_by_weekday[day.weekday()].append(cell.bins)
    # Each weekday's hours added up column by column (the bins of a consultations cell: hours).
    sums.heat = [[sum(column) for column in zip(*rows)][:24] if rows else [0] * 24 for rows in hours_by_weekday]
    return sums


def summarise(
    cells: dict[tuple[str, int, str], Cell] | Sums, daily: dict[tuple[date, str], Cell] | None = None, *,
    date_from: date, date_to: date, timezone: str, channel: str | None, agent_id: int | None,
    agent_names: dict[int, str], comments: list[Comment], rolled: int, live: int,
    by_topic: list[TopicFigures] | None = None, by_entry_point: list[EntryPointFigures] | None = None,
) -> Stats:
    """Cells (channel, agent, metric) over the range and daily consultation cells (or their
    `Sums`) -> `Stats`."""
    sums = cells if isinstance(cells, Sums) else sums_of(cells, daily or {})
    total, per_channel, per_agent = sums.total, sums.per_channel, sums.per_agent
    ticket_channels = sorted(ch for ch, cs in per_channel.items()
                             if any(not m.startswith("call_") for m in cs))
    answered = total.get(M.SURVEY_ANSWERED) or Cell()
    sent = total.get(M.SURVEY_SENT) or Cell()
    dist = answered.bins[:5]
    missed = total.get(M.CALL_MISSED) or Cell()
    got = total.get(M.CALL_ANSWERED) or Cell()

    return Stats(
        date_from=date_from, date_to=date_to, timezone=timezone, channel=channel, agent_id=agent_id,
        totals=figures_of(total),
        by_channel=[ChannelFigures(ch, figures_of(per_channel[ch])) for ch in ticket_channels],
        by_agent=[AgentFigures(a, agent_names.get(a, f"#{a}"), figures_of(cs)) for a, cs in sorted(per_agent.items())],
        calls=Calls(
            answered=got.n, missed=missed.n, called_back=(total.get(M.CALL_CALLED_BACK) or Cell()).n,
            outbound=(total.get(M.CALL_OUTBOUND) or Cell()).n, answer_rate=_ratio(got.n, got.n + missed.n),
            ring_wait=duration_of(total.get(M.CALL_RING)), talk=duration_of(total.get(M.CALL_TALK)),
            missed_outside_hours=(total.get(M.CALL_MISSED_OUTSIDE_HOURS) or Cell()).n,
        ),
        satisfaction=Satisfaction(
            sent=sent.n, answered=answered.n, response_rate=_ratio(answered.n, sent.n),
            average=round(answered.total / answered.n, 2) if answered.n else None,
            share_4_5=_ratio(dist[3] + dist[4], answered.n), distribution=dist,
        ),
        daily=_periods(sums.days), weekly=_periods(sums.weeks), monthly=_periods(sums.months),
        busiest_hours=[list(row) for row in sums.heat], comments=comments, days_from_rollups=rolled,
        days_computed_live=live, by_topic=by_topic or [], by_entry_point=by_entry_point or [],
    )


# Comparison and trends -----------------------------------------------------------------------


def previous_range(date_from: date, date_to: date) -> tuple[date, date]:
    """The range of equal length that ends the day before `date_from`."""
    days = (date_to - date_from).days + 1
    return date_from - timedelta(days=days), date_from - timedelta(days=1)


def year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def year_ago_range(date_from: date, date_to: date) -> tuple[date, date]:
    return year_before(date_from), year_before(date_to)


def has_data(p: PeriodFigures) -> bool:
    t, c = p.totals, p.calls
    return bool(t.consultations or t.handled or t.abandoned or t.identified or p.satisfaction.answered
                or c.answered or c.missed or c.outbound)


# Which way is better, per figure (None: neither, e.g. more consultations is not "better").
HIGHER_IS_BETTER: dict[str, bool | None] = {
    "consultations": None, "handled": True, "abandoned": False, "abandon_rate": False,
    "wait": False, "first_response": False, "resolution": False, "identification": False,
    "satisfaction": True, "response_rate": True, "share_4_5": True, "within_sla": True,
    "answered": True, "missed": False, "answer_rate": True, "transfers": None,
}


class Change(msgspec.Struct):
    """A figure against the same figure before: the signed change in percent (None when the
    earlier figure is 0 or missing), the direction, and whether that is better for the office."""

    percent: float | None
    direction: str  # up | down | same | none (nothing to compare)
    better: bool | None  # None: no judgement (no polarity, no change, or nothing to compare)


def change(figure: str, now: float | None, before: float | None) -> Change:
    if now is None or before is None:
        return Change(None, "none", None)
    if now == before:
        return Change(0.0, "same", None)
    direction = "up" if now > before else "down"
    percent = round((now - before) / before * 100, 1) if before else None
    polarity = HIGHER_IS_BETTER.get(figure)
    better = None if polarity is None else (direction == "up") == polarity
    return Change(percent, direction, better)


PERIODS = ("day", "week", "month")


def period_of(day: date, period: str) -> tuple[str, date, date]:
    """The label and first and last day of the day/ISO week/month holding `day`."""
    if period == "day":
        return day.isoformat(), day, day
    if period == "week":
        iso = day.isocalendar()
        first = day - timedelta(days=day.weekday())
        return f"{iso.year}-W{iso.week:02d}", first, first + timedelta(days=6)
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return f"{day.year}-{day.month:02d}", first, last


class TrendPoint(msgspec.Struct):
    """One day, week or month of a trend (clipped to the range). Durations in seconds."""

    period: str
    date_from: date
    date_to: date
    consultations: int
    wait_median_s: int | None
    wait_p90_s: int | None
    first_response_median_s: int | None
    first_response_p90_s: int | None
    resolution_median_s: int | None
    resolution_p90_s: int | None
    abandon_rate: float | None
    satisfaction_average: float | None
    survey_response_rate: float | None
    within_sla: float | None = None  # share of first responses within the SLA (office hours)


class Trends(msgspec.Struct):
    date_from: date
    date_to: date
    period: str
    channel: str | None
    agent_id: int | None
    points: list[TrendPoint]
    topic_id: int | None = None


def trend_points(day_cells: dict[tuple[date, str], Cell], date_from: date, date_to: date,
                 period: str) -> list[TrendPoint]:
    """Cells per (office day, metric) -> one point per period of the range, empty periods included."""
    grouped: dict[str, tuple[date, date, dict[str, Cell]]] = {}
    day = date_from
    while day <= date_to:
        label, first, last = period_of(day, period)
        if label not in grouped:
            grouped[label] = (max(first, date_from), min(last, date_to), {})
        day += timedelta(days=1)
    for (day, metric), cell in day_cells.items():
        if date_from <= day <= date_to:
            _merge_into(grouped[period_of(day, period)[0]][2], metric, cell)
    points = []
    for label, (first, last, cells) in grouped.items():
        f = figures_of(cells)
        points.append(TrendPoint(
            period=label, date_from=first, date_to=last, consultations=f.consultations,
            wait_median_s=f.wait.median_s, wait_p90_s=f.wait.p90_s,
            first_response_median_s=f.first_response.median_s, first_response_p90_s=f.first_response.p90_s,
            resolution_median_s=f.resolution.median_s, resolution_p90_s=f.resolution.p90_s,
            abandon_rate=f.abandon_rate, satisfaction_average=f.satisfaction_average,
            survey_response_rate=_ratio(f.surveys_answered, f.surveys_sent),
            within_sla=f.first_response.within_sla,
        ))
    return points


# CSV export ----------------------------------------------------------------------------------

CSV_HEADER = ("section", "key", "metric", "value")


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _flatten(f"{prefix}{name}.", getattr(value, name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _flatten(f"{prefix}{i + 1}.", item)
    else:
        yield prefix.rstrip("."), value


def csv_rows(stats: Stats) -> Iterator[tuple[str, str, str, Any]]:
    """The same figures as the JSON, one value per line (section, key, metric, value)."""
    yield ("range", "", "from", stats.date_from.isoformat())
    yield ("range", "", "to", stats.date_to.isoformat())
    yield ("range", "", "timezone", stats.timezone)
    for name, value in (("channel", stats.channel), ("agent_id", stats.agent_id), ("topic_id", stats.topic_id)):
        if value is not None:
            yield ("filter", "", name, value)
    for metric, value in _flatten("", stats.totals):
        yield ("all", "", metric, value)
    for row in stats.by_channel:
        for metric, value in _flatten("", row.figures):
            yield ("channel", row.channel, metric, value)
    for agent in stats.by_agent:
        for metric, value in _flatten("", agent.figures):
            yield ("agent", f"{agent.agent_id} {agent.name}", metric, value)
    for topic in stats.by_topic:
        for metric, value in _flatten("", topic):
            if metric not in ("topic_id", "key") and not metric.startswith("names"):
                yield ("topic", f"{topic.topic_id} {topic.key}", metric, value)
    for entry in stats.by_entry_point:
        for metric, value in _flatten("", entry):
            if metric not in ("entry_point_id", "label", "topic_id", "active"):
                yield ("entry_point", f"{entry.entry_point_id} {entry.label}", metric, value)
    for metric, value in _flatten("", stats.calls):
        yield ("calls", "", metric, value)
    for metric, value in _flatten("", stats.satisfaction):
        yield ("satisfaction", "", metric, value)
    for section, periods in (("day", stats.daily), ("week", stats.weekly), ("month", stats.monthly)):
        for p in periods:
            yield (section, p.period, "consultations", p.total)
            for ch, n in sorted(p.by_channel.items()):
                yield (section, p.period, f"consultations.{ch}", n)
    for wd, hours in enumerate(stats.busiest_hours):
        for hour, n in enumerate(hours):
            if n:
                yield ("hour", f"{wd} {hour:02d}", "consultations", n)
