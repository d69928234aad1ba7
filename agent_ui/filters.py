"""Jinja filters for dates, durations and citizens' text (always escaped)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

_TZ = ZoneInfo("Europe/Madrid")


def set_timezone(name: str) -> None:
    global _TZ
    _TZ = ZoneInfo(name)


def local_time(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(_TZ).strftime(fmt)


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def duration(seconds: Any) -> str:
    """`1 h 05 min`, `12 min`, `40 s`: short, language-neutral units."""
    if seconds is None:
        return ""
    total = int(seconds.total_seconds() if hasattr(seconds, "total_seconds") else seconds)
    total = max(0, total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


FILTERS = {"local_time": local_time, "iso": iso, "duration": duration}
