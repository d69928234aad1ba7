"""Managers' statistics: the JSON API, its CSV export, the live backlog, and the dashboard page.

Managers and admins only (agents get 403). Figures come from `hub.rollups` (definitions in
docs/metrics.md); this module only parses filters and shapes answers.
"""

from __future__ import annotations

from datetime import date, timedelta
from collections.abc import Callable
from urllib.parse import urlencode
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery, JSONBody, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from agent_ui import stats_exports as exports
from agent_ui.i18n import request_language, translations
from agent_ui.limits import parse_id
from agent_ui.security import MANAGERS, CurrentAgent, requires_role
from agent_ui.web import flash, page, safe_next
from hub.cells import csv_text
from hub.actions.reports import do_set_weekly_summary
from hub.channel_rules import known_channels
from hub.context import HubContext
from hub.db.tables import Agent
from hub.rollups import (
    office_today, query_backlog, query_comments, query_compared, query_day_cells, query_stats, query_trends,
)
from hub.stats import PERIODS, Backlog, Stats, Trends, change, csv_rows, period_of

MANAGERS_ONLY = [requires_role(*MANAGERS)]
# `from` is a Python keyword: handlers take `from_`, read from `?from=`.
FromDate = Annotated[str | None, QueryParameter(name="from", description="first office date, e.g. 2026-03-01")]
MAX_RANGE = timedelta(days=3 * 366)
DEFAULT_DAYS = 30


class Filters(msgspec.Struct):
    date_from: date
    date_to: date
    channel: str | None
    agent_id: int | None
    topic_id: int | None = None  # only the consultations about this topic (calls have none)


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationException(f"{name} must be a date such as 2026-03-02, got {value!r}") from None


def parse_filters(ctx: HubContext, date_from: str | None, date_to: str | None, channel: str | None,
                  agent: str | None, topic: str | None = None) -> Filters:
    """Query parameters -> filters; 400 on anything malformed. Default: the last 30 days.
    (`checked_filters` also checks that the topic exists.)"""
    to = _date(date_to, "to") or office_today(ctx)
    start = _date(date_from, "from") or to - timedelta(days=DEFAULT_DAYS - 1)
    if start > to:
        raise ValidationException("from must not be after to")
    if to - start > MAX_RANGE:
        raise ValidationException("the range may cover at most three years")
    channel = channel or None
    if channel and channel not in known_channels():
        raise ValidationException(f"unknown channel {channel!r}; one of {', '.join(known_channels())}")
    agent_id = None
    if agent:
        agent_id = parse_id(agent)
        if agent_id is None:
            raise ValidationException(f"agent must be an agent id, got {agent!r}")
    return Filters(start, to, channel, agent_id, _topic(topic))


async def checked_filters(ctx: HubContext, date_from: str | None, date_to: str | None, channel: str | None,
                          agent: str | None, topic: str | None) -> Filters:
    """`parse_filters`, and a topic that does not exist is a 400 (as on the ticket list)."""
    from hub.search import topic_exists

    f = parse_filters(ctx, date_from, date_to, channel, agent, topic)
    if f.topic_id is not None:
        async with ctx.sessionmaker() as session:
            if not await topic_exists(session, f.topic_id):
                raise ValidationException(f"unknown topic {f.topic_id}")
    return f


async def _stats(ctx: HubContext, f: Filters, compare: str | None = None) -> Stats:
    if compare:
        if compare != "previous":
            raise ValidationException("compare must be previous")
        return await query_compared(ctx, f.date_from, f.date_to, channel=f.channel, agent_id=f.agent_id,
                                    topic_id=f.topic_id)
    return await query_stats(ctx, f.date_from, f.date_to, channel=f.channel, agent_id=f.agent_id, topic_id=f.topic_id)


def _period(value: str | None) -> str:
    if not value:
        return "day"
    if value not in PERIODS:
        raise ValidationException(f"period must be one of {', '.join(PERIODS)}, got {value!r}")
    return value


def stats_csv(stats: Stats) -> Response[str]:
    rows: list[Any] = [("section", "key", "metric", "value"), *csv_rows(stats)]
    rows += [("comment", c.reference, f"rating {c.rating}", c.comment) for c in stats.comments]
    text = csv_text(rows)
    name = f"stats-{stats.date_from.isoformat()}-{stats.date_to.isoformat()}.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


# JSON API --------------------------------------------------------------------------------------


@get("/api/v1/stats", tags=["stats"], guards=MANAGERS_ONLY)
async def get_stats(
    ctx: NamedDependency[HubContext], from_: FromDate = None, to: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None, format: FromQuery[str | None] = None,
    compare: FromQuery[str | None] = None, topic: FromQuery[str | None] = None,
) -> Response[Any]:
    """Statistics for `from`..`to` (office dates, inclusive; default the last 30 days), optionally
    one `channel`, one `agent` (id) and one `topic` (id: only the consultations about it; calls
    have no topic). `compare=previous` adds `previous` (the same figures for the range of equal
    length before) and `year_ago` (the same dates a year earlier, when anything was recorded
    then). `format=csv` gives the CSV export. Definitions: docs/metrics.md."""
    f = await checked_filters(ctx, from_, to, channel, agent, topic)
    stats = await _stats(ctx, f, compare)
    if format == "csv":
        return stats_csv(stats)
    if format not in (None, "", "json"):
        raise ValidationException("format must be json or csv")
    return Response(stats)


# The handler's media type would also be used for its error answers (a bad filter must stay a
# JSON 400), so the CSV type is set on the success response and documented here.
@get("/api/v1/stats.csv", tags=["stats"], guards=MANAGERS_ONLY,
     responses={200: ResponseSpec(data_container=str, media_type="text/csv", description="the figures as CSV")})
async def get_stats_csv(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], from_: FromDate = None,
    to: FromQuery[str | None] = None, channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None,
    table: FromQuery[str | None] = None, topic: FromQuery[str | None] = None,
) -> Response[Any]:
    """Without `table`: the same figures as `GET /api/v1/stats`, one value per line (section,
    key, metric, value). With `table=daily` (one row per day and channel), `agents`, `topics` or
    `entry_points`: a table in the manager's language, durations in minutes; `;`-separated with a
    UTF-8 BOM and decimal commas for Catalan and Spanish (what their Excel expects), `,` for
    English. The filters (`channel`, `agent`, `topic`) are those of `GET /api/v1/stats`."""
    f = await checked_filters(ctx, from_, to, channel, agent, topic)
    if not table:
        return stats_csv(await _stats(ctx, f))
    if table not in exports.TABLES:
        raise ValidationException(f"table must be one of {', '.join(exports.TABLES)}, got {table!r}")
    language = request_language(request)
    body = exports.to_csv((await _tables(request, ctx, f, [table]))[0][1], language)
    name = f"stats-{table}-{f.date_from.isoformat()}-{f.date_to.isoformat()}.csv"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


async def _tables(request: Request[Any, Any, Any], ctx: HubContext, f: Filters,
                  which: list[str]) -> list[tuple[str, exports.Table]]:
    """The export tables asked for, each with its (translated) sheet title."""
    from agent_ui.i18n import translate

    out: list[tuple[str, exports.Table]] = []
    stats = await _stats(ctx, f) if set(which) & {"agents", "topics", "entry_points"} else None
    for table in which:
        if table == "daily":
            cells = await query_day_cells(ctx, f.date_from, f.date_to, channel=f.channel, agent_id=f.agent_id,
                                          topic_id=f.topic_id)
            channels = [f.channel] if f.channel else list(known_channels())
            out.append((translate(request, "Per day"), exports.daily_table(
                request, cells, f.date_from, f.date_to, channels, _channel_labels(request))))
        elif table == "agents" and stats is not None:
            out.append((translate(request, "Per agent"), exports.agents_table(request, stats)))
        elif table == "topics" and stats is not None:
            out.append((translate(request, "Per topic"),
                        exports.topics_table(request, stats, request_language(request))))
        elif table == "entry_points" and stats is not None:
            names = dict(await _topics(ctx, request_language(request)))
            out.append((translate(request, "Per entry point"), exports.entry_points_table(request, stats, names)))
    return out


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@get("/api/v1/stats.xlsx", tags=["stats"], guards=MANAGERS_ONLY,
     responses={200: ResponseSpec(data_container=bytes, media_type=XLSX, description="the tables as an XLSX workbook")})
async def get_stats_xlsx(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], from_: FromDate = None,
    to: FromQuery[str | None] = None, channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None,
    topic: FromQuery[str | None] = None,
) -> Response[bytes]:
    """The tables of `GET /api/v1/stats.csv?table=` in one workbook, one sheet each (per day and
    channel, per agent, per topic), headers in the manager's language, durations in minutes,
    with the same filters."""
    f = await checked_filters(ctx, from_, to, channel, agent, topic)
    body = exports.to_xlsx(await _tables(request, ctx, f, list(exports.TABLES)))
    name = f"stats-{f.date_from.isoformat()}-{f.date_to.isoformat()}.xlsx"
    return Response(body, media_type=XLSX, headers={"content-disposition": f'attachment; filename="{name}"'})


@get("/api/v1/stats/trends", tags=["stats"], guards=MANAGERS_ONLY)
async def get_trends(
    ctx: NamedDependency[HubContext], from_: FromDate = None, to: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None, period: FromQuery[str | None] = None,
    topic: FromQuery[str | None] = None,
) -> Trends:
    """Trend lines for `from`..`to`: one point per `period` (`day`, `week` or `month`) with the
    median and p90 wait, first response and resolution (seconds), the abandonment rate, the
    satisfaction average, the survey response rate and the share of first replies within the
    target. Empty periods are points with nulls. `topic` (an id) keeps the consultations about it."""
    f = await checked_filters(ctx, from_, to, channel, agent, topic)
    return await query_trends(ctx, f.date_from, f.date_to, _period(period), channel=f.channel, agent_id=f.agent_id,
                              topic_id=f.topic_id)


def _topic(value: str | None) -> int | None:
    if not value:
        return None
    topic = parse_id(value)
    if topic is None:
        raise ValidationException(f"topic must be a topic id, got {value!r}")
    return topic


@get("/api/v1/stats/now", tags=["stats"], guards=MANAGERS_ONLY)
async def get_backlog(ctx: NamedDependency[HubContext]) -> Backlog:
    """The backlog right now: waiting, identifying, owned, the longest wait, agents available."""
    return await query_backlog(ctx)


# Pages ----------------------------------------------------------------------------------------


async def _agents(ctx: HubContext) -> list[tuple[int, str]]:
    from sqlmodel import select

    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(Agent.id, Agent.name).order_by(Agent.name))).all()
    return [(i, n) for i, n in rows if i is not None]


def default_period(f: Filters) -> str:
    days = (f.date_to - f.date_from).days + 1
    return "day" if days <= 62 else "week" if days <= 366 else "month"


# The trend charts: (id, title, unit, [(TrendPoint field, series label)]). Series of one chart
# differ by dash pattern and marker as well as by shade, so they stay apart in greyscale.
def _trend_charts(request: Request[Any, Any, Any]) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    from agent_ui.i18n import translate

    median, p90 = translate(request, "Median"), translate(request, "90 % within")
    return [
        ("wait", translate(request, "Wait in queue (minutes)"), "min",
         [("wait_median_s", median), ("wait_p90_s", p90)]),
        ("first_response", translate(request, "First response (minutes)"), "min",
         [("first_response_median_s", median), ("first_response_p90_s", p90)]),
        ("resolution", translate(request, "Resolution (minutes)"), "min",
         [("resolution_median_s", median), ("resolution_p90_s", p90)]),
        ("rates", translate(request, "Rates (%)"), "%", [
            ("abandon_rate", translate(request, "WhatsApp abandonment")),
            ("survey_response_rate", translate(request, "Survey response rate")),
            ("within_sla", translate(request, "First responses within the SLA")),
        ]),
        ("satisfaction", translate(request, "Satisfaction (1–5)"), "",
         [("satisfaction_average", translate(request, "Average"))]),
    ]


def _value(point: Any, field: str, unit: str) -> float | None:
    raw = getattr(point, field)
    if raw is None:
        return None
    if unit == "min":
        return round(raw / 60, 1)
    if unit == "%":
        return round(raw * 100, 1)
    return float(raw)


def _number(value: float, unit: str) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} %" if unit == "%" else text


def _trend_summary(request: Request[Any, Any, Any], label: str, unit: str,
                   points: list[tuple[str, float | None]]) -> str:
    """One sentence a screen reader (or a printed report) gives instead of the line."""
    from agent_ui.i18n import translate

    known = [(period, v) for period, v in points if v is not None]
    if not known:
        return translate(request, "%(series)s: no data in this range.", series=label)
    low = min(known, key=lambda pv: pv[1])
    high = max(known, key=lambda pv: pv[1])
    return translate(request, "%(series)s: %(first)s in %(first_period)s, %(last)s in %(last_period)s; lowest %(low)s "
                      "(%(low_period)s), highest %(high)s (%(high_period)s).",
             series=label, first=_number(known[0][1], unit), first_period=known[0][0],
             last=_number(known[-1][1], unit), last_period=known[-1][0], low=_number(low[1], unit),
             low_period=low[0], high=_number(high[1], unit), high_period=high[0])


def trend_view(request: Request[Any, Any, Any], trends: Trends) -> list[dict[str, Any]]:
    """The trend charts with their tables and text summaries (what the template and chart script read)."""
    charts = []
    for key, title, unit, series in _trend_charts(request):
        rows = [(p.period, [_value(p, field, unit) for field, _ in series]) for p in trends.points]
        if key == "rates" and all(v[2] is None for _, v in rows):
            series = series[:2]  # no SLA figures recorded (yet): no empty line
            rows = [(period, values[:2]) for period, values in rows]
        charts.append({
            "id": f"trend-{key}", "title": title, "unit": unit, "labels": [label for _, label in series],
            "rows": rows, "summaries": [
                _trend_summary(request, label, unit, [(period, values[i]) for period, values in rows])
                for i, (_, label) in enumerate(series)],
        })
    return charts


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f} %"


def _dur(seconds: int | None) -> str:
    from agent_ui.filters import duration

    return "–" if seconds is None else duration(seconds)


def _avg(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _pair(d: Any) -> str:
    return "–" if d.median_s is None else f"{_dur(d.median_s)} / {_dur(d.p90_s)}"


def drill_links(f: Filters) -> dict[str, str]:
    """Each count's consultations on the search page, with the filters that select exactly
    them: the same range, bounding the moment that dates the count (docs/metrics.md), the same
    channel and topic; the agent where the count is attributed to the ticket's owner."""
    base: dict[str, Any] = {"from": f.date_from.isoformat(), "to": f.date_to.isoformat(), "kind": "consultation"}
    if f.channel:
        base["channel"] = f.channel
    if f.topic_id is not None:
        base["topic"] = f.topic_id
    links = {"handled": {**base, "status": "resolved", "dated": "resolved"}}
    if f.agent_id is None:  # arrivals and abandonment belong to no agent; first replies to who replied
        links.update({
            "consultations": base,
            "abandon_rate": {**base, "abandoned": "1", "dated": "closed"},
            "within_sla": {**base, "outside_sla": "1", "dated": "first_response"},
        })
    else:
        links["handled"]["assignee_id"] = f.agent_id
    return {key: "/search?" + urlencode(params) for key, params in links.items()}


def entry_point_drill(f: Filters) -> str:
    """The search page's filters for a by-entry-point count (the page adds `entry_point=<id>`):
    consultations created in the range, with the same channel, topic and assignee."""
    params: dict[str, Any] = {"from": f.date_from.isoformat(), "to": f.date_to.isoformat(), "kind": "consultation"}
    if f.channel:
        params["channel"] = f.channel
    if f.topic_id is not None:
        params["topic"] = f.topic_id
    if f.agent_id is not None:
        params["assignee_id"] = f.agent_id
    return "/search?" + urlencode(params)


def key_figures(_: Callable[[str], str], stats: Stats, links: dict[str, str]) -> list[dict[str, Any]]:
    """The key figures, each with its value, its comparisons (previous period, a year ago) and,
    for counts, the link to the consultations behind it. `_` translates (the page's language,
    or the manager's in the weekly mail)."""
    # (change key, label, the compared number, how it is shown, the full value shown, extra)
    figures: list[tuple[str, str, Any, Any, Any, Any]] = [
        ("consultations", _("Consultations"), lambda p: p.totals.consultations, str, None, None),
        ("handled", _("Resolved consultations"), lambda p: p.totals.handled, str, None, None),
        ("abandon_rate", _("WhatsApp abandoned"), lambda p: p.totals.abandon_rate, _pct,
         lambda p: str(p.totals.abandoned), lambda p: _pct(p.totals.abandon_rate)),
        # Office time by default (the clock stops while the office is closed); wall time beside it.
        ("wait", _("Wait in queue, office hours (median / p90)"), lambda p: p.totals.wait_office.median_s, _dur,
         lambda p: _pair(p.totals.wait_office), lambda p: _("wall time %(pair)s") % {"pair": _pair(p.totals.wait)}),
        ("first_response", _("First response, office hours (median / p90)"),
         lambda p: p.totals.first_response_office.median_s, _dur, lambda p: _pair(p.totals.first_response_office),
         lambda p: _("wall time %(pair)s") % {"pair": _pair(p.totals.first_response)}),
        ("resolution", _("Resolution, office hours (median / p90)"), lambda p: p.totals.resolution_office.median_s,
         _dur, lambda p: _pair(p.totals.resolution_office),
         lambda p: _("wall time %(pair)s") % {"pair": _pair(p.totals.resolution)}),
        ("satisfaction", _("Satisfaction (1–5)"), lambda p: p.satisfaction.average, _avg, None,
         lambda p: f"{_pct(p.satisfaction.share_4_5)} {_('rated 4–5')}"),
        ("response_rate", _("Survey response rate"), lambda p: p.satisfaction.response_rate, _pct, None, None),
        ("within_sla", _("First responses within the target (office hours)"),
         lambda p: p.totals.first_response.within_sla, _pct, None,
         lambda p: _("%(n)s later") % {"n": p.totals.first_response.outside_sla}),
    ]
    return _compared(_, figures, stats, links)


def call_figures(_: Callable[[str], str], stats: Stats) -> list[dict[str, Any]]:
    """The call figures, compared like the key figures (calls have no topic and no drill-down)."""
    figures: list[tuple[str, str, Any, Any, Any, Any]] = [
        ("answered", _("Answered"), lambda p: p.calls.answered, str, None, None),
        ("missed", _("Missed"), lambda p: p.calls.missed, str, None, None),
        ("called_back", _("Called back"), lambda p: p.calls.called_back, str, None, None),
        ("outbound", _("Outbound"), lambda p: p.calls.outbound, str, None, None),
        ("answer_rate", _("Answer rate"), lambda p: p.calls.answer_rate, _pct, None, None),
        ("talk", _("Talk time (median / p90)"), lambda p: p.calls.talk.median_s, _dur, lambda p: _pair(p.calls.talk),
         None),
    ]
    return _compared(_, figures, stats, {})


def _compared(_: Callable[[str], str], figures: list[tuple[str, str, Any, Any, Any, Any]], stats: Stats,
              links: dict[str, str]) -> list[dict[str, Any]]:
    now = stats.headline()
    others = [(_("before"), stats.previous), (_("a year ago"), stats.year_ago)]
    out = []
    for key, label, pick, show, full, extra in figures:
        out.append({
            "key": key, "label": label, "value": (full or (lambda p: show(pick(p))))(now),
            "extra": extra(now) if extra else None, "href": links.get(key), "href_on_extra": key == "within_sla",
            "compared": [{"label": name, "before": show(pick(other)), "change": change(key, pick(now), pick(other))}
                         for name, other in others if other is not None],
        })
    return out


# The figures of a per-channel or per-agent row that are shown beside the previous period's.
ROW_FIGURES: dict[str, Callable[[Any], float | None]] = {
    "consultations": lambda f: f.consultations, "handled": lambda f: f.handled, "abandoned": lambda f: f.abandoned,
    "wait": lambda f: f.wait_office.median_s, "first_response": lambda f: f.first_response_office.median_s,
    "resolution": lambda f: f.resolution_office.median_s, "satisfaction": lambda f: f.satisfaction_average,
    "transfers": lambda f: f.transfers,
}


def row_changes(stats: Stats) -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Each channel's and agent's figures against their own in the previous period (a row absent
    then compares with nothing)."""
    if stats.previous is None:
        return {}, {}
    before_ch = {c.channel: c.figures for c in stats.previous.by_channel}
    before_ag = {a.agent_id: a.figures for a in stats.previous.by_agent}

    def changes(now: Any, before: Any) -> dict[str, Any]:
        return {key: change(key, pick(now), pick(before) if before is not None else None)
                for key, pick in ROW_FIGURES.items()}

    return ({c.channel: changes(c.figures, before_ch.get(c.channel)) for c in stats.by_channel},
            {a.agent_id: changes(a.figures, before_ag.get(a.agent_id)) for a in stats.by_agent})


def period_bounds(label: str) -> tuple[date, date]:
    """The first and last day of a volume table's period: 2026-03-02, 2026-W10 or 2026-03."""
    if "-W" in label:
        year, week = label.split("-W")
        first = date.fromisocalendar(int(year), int(week), 1)
        return first, first + timedelta(days=6)
    if len(label) == 7:
        return period_of(date.fromisoformat(label + "-01"), "month")[1:]
    day = date.fromisoformat(label)
    return day, day


def period_link(f: Filters, label: str, channel: str | None = None) -> str | None:
    """The consultations created in one day, week or month of the volume tables (clipped to the
    range), on one channel or all: the same filters otherwise."""
    first, last = period_bounds(label)
    narrowed = msgspec.structs.replace(f, date_from=max(first, f.date_from), date_to=min(last, f.date_to),
                                       channel=channel or f.channel)
    return drill_links(narrowed).get("consultations")


COMMENTS_PER_PAGE = 10


def presets(request: Request[Any, Any, Any], today: date) -> list[tuple[str, str, date, date]]:
    """The range picker's shortcuts: (key, label, first day, last day), never past today."""
    from agent_ui.i18n import translate

    monday = today - timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    return [
        ("this-week", translate(request, "This week"), monday, today),
        ("last-week", translate(request, "Last week"), monday - timedelta(days=7), monday - timedelta(days=1)),
        ("this-month", translate(request, "This month"), first_of_month, today),
        ("last-month", translate(request, "Last month"), last_month_end.replace(day=1), last_month_end),
        ("this-year", translate(request, "This year"), today.replace(month=1, day=1), today),
    ]


def _page_number(value: str | None, name: str, most: int | None = None) -> int | None:
    if not value:
        return None
    number = parse_id(value)  # ASCII digits, 1 to a row id's range (`²` is a digit to isdigit, not to int)
    if number is None or (most is not None and number > most):
        raise ValidationException(f"{name} must be a whole number from 1{f' to {most}' if most else ''}, got {value!r}")
    return number


@get("/stats", guards=MANAGERS_ONLY, include_in_schema=False)
async def stats_page(
    request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext],
    from_: FromDate = None,
    to: FromQuery[str | None] = None, channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None,
    period: FromQuery[str | None] = None, topic: FromQuery[str | None] = None,
    rating: FromQuery[str | None] = None, page_: Annotated[
        str | None, QueryParameter(name="page", description="page of the comments")] = None,
) -> Template:
    """The dashboard. Its whole state is in the URL (range, channel, agent, topic, trend period,
    the comments' rating and page), so a view can be bookmarked, shared or printed. The filters
    apply alike to the key figures, their comparison, the trends, the tables, the drill-down
    links and the exports."""
    f = await checked_filters(ctx, from_, to, channel, agent, topic)
    stars = _page_number(rating, "rating", 5)
    number = _page_number(page_, "page") or 1
    stats = await query_compared(ctx, f.date_from, f.date_to, channel=f.channel, agent_id=f.agent_id,
                                 topic_id=f.topic_id, comments_limit=0)
    comments = await query_comments(ctx, f.date_from, f.date_to, channel=f.channel, agent_id=f.agent_id,
                                    rating=stars, offset=(number - 1) * COMMENTS_PER_PAGE, limit=COMMENTS_PER_PAGE,
                                    topic_id=f.topic_id)
    state: dict[str, Any] = {"from": f.date_from.isoformat(), "to": f.date_to.isoformat(), "channel": f.channel,
                             "agent": f.agent_id, "topic": f.topic_id, "period": period or None, "rating": stars,
                             "page": number}

    def state_fields(**changes: Any) -> list[tuple[str, str]]:
        merged = {**state, **changes}
        if merged.get("page") == 1:
            merged["page"] = None
        return [(k, str(v)) for k, v in merged.items() if v is not None and v != ""]

    def state_url(**changes: Any) -> str:
        return "/stats?" + urlencode(state_fields(**changes))

    today = office_today(ctx)
    changes = row_changes(stats)
    shortcuts = presets(request, today)
    current = next((key for key, _, a, b in shortcuts if (a, b) == (f.date_from, f.date_to)), None)
    trend_period = _period(period) if period else default_period(f)
    trends = trend_view(request, await query_trends(
        ctx, f.date_from, f.date_to, trend_period, channel=f.channel, agent_id=f.agent_id, topic_id=f.topic_id))
    chart_data = msgspec.json.encode({
        "daily": stats.daily, "channels": [c.channel for c in stats.by_channel], "labels": _channel_labels(request),
        "distribution": stats.satisfaction.distribution, "hours": stats.busiest_hours,
        "trends": [{"id": c["id"], "labels": c["labels"], "periods": [r[0] for r in c["rows"]],
                    "values": [[r[1][i] for r in c["rows"]] for i in range(len(c["labels"]))]} for c in trends],
    }).decode()
    # The exports' query: the same filters as the page's figures.
    query = urlencode([(k, str(v)) for k, v in (
        ("from", f.date_from.isoformat()), ("to", f.date_to.isoformat()), ("channel", f.channel),
        ("agent", f.agent_id), ("topic", f.topic_id)) if v is not None])
    return page(
        "stats/dashboard.html", request, nav="stats", stats=stats, filters=f, channels=known_channels(),
        agents=await _agents(ctx), backlog=await query_backlog(ctx), chart_data=chart_data, query=query,
        weekdays=_weekdays(request), trends=trends, trend_period=trend_period,
        key_figures=key_figures(translations(request_language(request)).ugettext, stats, drill_links(f)),
        call_figures=call_figures(translations(request_language(request)).ugettext, stats),
        channel_changes=changes[0], agent_changes=changes[1],
        channel_links={c.channel: drill_links(msgspec.structs.replace(f, channel=c.channel)) for c in stats.by_channel},
        agent_links={a.agent_id: drill_links(msgspec.structs.replace(f, agent_id=a.agent_id))["handled"]
                     for a in stats.by_agent},
        period_link=lambda label, ch=None: period_link(f, label, ch),
        weekly_summary=await _weekly_summary_on(ctx, me.id), comments=comments, comments_page=number,
        comments_pages=max(1, -(-comments.total // COMMENTS_PER_PAGE)), state_url=state_url, state_fields=state_fields,
        presets=[(key, label, state_url(**{"from": a.isoformat(), "to": b.isoformat(), "page": None}))
                 for key, label, a, b in shortcuts], current_preset=current,
        topics=await _topics(ctx, request_language(request)), entry_point_drill=entry_point_drill(f),
    )


# The weekly summary opt-in ---------------------------------------------------------------------


class WeeklySummarySetting(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class WeeklySummaryForm(msgspec.Struct):
    enabled: str = ""
    next: str = ""


@put("/api/v1/agents/me/weekly-summary", tags=["agents"], guards=MANAGERS_ONLY)
async def put_weekly_summary(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext],
                             data: JSONBody[WeeklySummarySetting]) -> WeeklySummarySetting:
    """Whether I (a manager or admin) get last week's key figures by email, against the week
    before, on the office's first working day."""
    await do_set_weekly_summary(ctx, me.id, data.enabled)
    return data


@post("/stats/weekly-summary", guards=MANAGERS_ONLY, include_in_schema=False)
async def weekly_summary_form(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                              ctx: NamedDependency[HubContext], data: URLEncodedBody[WeeklySummaryForm]) -> Redirect:
    from agent_ui.i18n import translate

    enabled = bool(data.enabled)
    await do_set_weekly_summary(ctx, me.id, enabled)
    flash(request, translate(request, "You will get the weekly summary by email.") if enabled
          else translate(request, "The weekly summary is switched off."), "success")
    return Redirect(safe_next(data.next, "/stats"), status_code=303)


async def _weekly_summary_on(ctx: HubContext, agent_id: int) -> bool:
    async with ctx.sessionmaker() as session:
        agent = await session.get(Agent, agent_id)
        return bool(agent and agent.weekly_summary)


async def _topics(ctx: HubContext, language: str) -> list[tuple[int, str]]:
    from sqlmodel import select

    from hub.db.tables import Topic

    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(Topic).order_by(Topic.position))).all()  # type: ignore[arg-type]
    return [(t.id, t.names.get(language) or t.names.get("ca") or t.key) for t in rows if t.id is not None]


@get("/stats/now", guards=MANAGERS_ONLY, include_in_schema=False)
async def backlog_fragment(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Template:
    return page("stats/_now.html", request, backlog=await query_backlog(ctx))


def _channel_labels(request: Request[Any, Any, Any]) -> dict[str, str]:
    from agent_ui.i18n import translate

    return {"whatsapp": translate(request, "WhatsApp"), "email": translate(request, "Email"),
            "phone": translate(request, "Phone")}


def _weekdays(request: Request[Any, Any, Any]) -> list[str]:
    from agent_ui.i18n import translate

    return [translate(request, "Mon"), translate(request, "Tue"), translate(request, "Wed"), translate(request, "Thu"),
            translate(request, "Fri"), translate(request, "Sat"), translate(request, "Sun")]

ROUTES = [get_stats, get_stats_csv, get_stats_xlsx, get_trends, get_backlog, stats_page, backlog_fragment,
          put_weekly_summary, weekly_summary_form]
