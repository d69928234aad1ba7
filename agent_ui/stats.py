"""Managers' statistics: the JSON API, its CSV export, the live backlog, and the dashboard page.

Managers and admins only (agents get 403). Figures come from `hub.rollups` (definitions in
docs/metrics.md); this module only parses filters and shapes answers.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from agent_ui.security import MANAGERS, requires_role
from agent_ui.web import page
from hub.cells import csv_text
from hub.channel_rules import known_channels
from hub.context import HubContext
from hub.db.tables import Agent
from hub.rollups import office_today, query_backlog, query_compared, query_stats, query_trends
from hub.stats import PERIODS, Backlog, Stats, Trends, csv_rows

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


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationException(f"{name} must be a date such as 2026-03-02, got {value!r}") from None


def parse_filters(ctx: HubContext, date_from: str | None, date_to: str | None, channel: str | None,
                  agent: str | None) -> Filters:
    """Query parameters -> filters; 400 on anything malformed. Default: the last 30 days."""
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
        try:
            agent_id = int(agent)
        except ValueError:
            raise ValidationException(f"agent must be an agent id, got {agent!r}") from None
    return Filters(start, to, channel, agent_id)


async def _stats(ctx: HubContext, f: Filters, compare: str | None = None) -> Stats:
    if compare:
        if compare != "previous":
            raise ValidationException("compare must be previous")
        return await query_compared(ctx, f.date_from, f.date_to, channel=f.channel, agent_id=f.agent_id)
    return await query_stats(ctx, f.date_from, f.date_to, channel=f.channel, agent_id=f.agent_id)


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
    compare: FromQuery[str | None] = None,
) -> Response[Any]:
    """Statistics for `from`..`to` (office dates, inclusive; default the last 30 days), optionally
    one `channel` and one `agent` (id). `compare=previous` adds `previous` (the same figures for
    the range of equal length before) and `year_ago` (the same dates a year earlier, when
    anything was recorded then). `format=csv` gives the CSV export. Definitions: docs/metrics.md."""
    f = parse_filters(ctx, from_, to, channel, agent)
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
    ctx: NamedDependency[HubContext], from_: FromDate = None, to: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None,
) -> Response[str]:
    """The same figures as `GET /api/v1/stats`, one value per line (section, key, metric, value)."""
    return stats_csv(await _stats(ctx, parse_filters(ctx, from_, to, channel, agent)))


@get("/api/v1/stats/trends", tags=["stats"], guards=MANAGERS_ONLY)
async def get_trends(
    ctx: NamedDependency[HubContext], from_: FromDate = None, to: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None, period: FromQuery[str | None] = None,
) -> Trends:
    """Trend lines for `from`..`to`: one point per `period` (`day`, `week` or `month`) with the
    median and p90 wait, first response and resolution (seconds), the abandonment rate, the
    satisfaction average and the survey response rate. Empty periods are points with nulls."""
    f = parse_filters(ctx, from_, to, channel, agent)
    return await query_trends(ctx, f.date_from, f.date_to, _period(period), channel=f.channel, agent_id=f.agent_id)


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


@get("/stats", guards=MANAGERS_ONLY, include_in_schema=False)
async def stats_page(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], from_: FromDate = None,
    to: FromQuery[str | None] = None, channel: FromQuery[str | None] = None, agent: FromQuery[str | None] = None,
) -> Template:
    f = parse_filters(ctx, from_, to, channel, agent)
    stats = await _stats(ctx, f)
    chart_data = msgspec.json.encode({
        "daily": stats.daily, "channels": [c.channel for c in stats.by_channel], "labels": _channel_labels(request),
        "distribution": stats.satisfaction.distribution, "hours": stats.busiest_hours,
    }).decode()
    query = "&".join(f"{k}={v}" for k, v in (
        ("from", f.date_from.isoformat()), ("to", f.date_to.isoformat()), ("channel", f.channel or ""),
        ("agent", "" if f.agent_id is None else f.agent_id)) if v != "")
    return page(
        "stats/dashboard.html", request, nav="stats", stats=stats, filters=f, channels=known_channels(),
        agents=await _agents(ctx), backlog=await query_backlog(ctx), chart_data=chart_data, query=query,
        weekdays=_weekdays(request),
    )


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

ROUTES = [get_stats, get_stats_csv, get_trends, get_backlog, stats_page, backlog_fragment]
