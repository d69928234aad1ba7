"""Logging set-up for every `hub` process: readable text by default, JSON lines on request.

`HUB_LOG_FORMAT=json` writes one JSON object per line (for journald, Loki, Elasticsearch...):
`time`, `level`, `logger`, `message`, `process` (the hub command), and the request and ticket
being handled when known: `request_id` is bound per HTTP request by the web middleware
(`runtime.metrics.observe`), `ticket_id` comes from the route (`/api/v1/tickets/{id}`) or from
`extra={"ticket_id": ...}` in a log call. Exceptions go in `exc_info` as text.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("hub_request_id", default=None)
ticket_id: contextvars.ContextVar[int | str | None] = contextvars.ContextVar("hub_ticket_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str = "") -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.process:
            entry["process"] = self.process
        rid, tid = request_id.get(), ticket_id.get()
        if rid is not None:
            entry["request_id"] = rid
        if tid is not None:
            entry["ticket_id"] = tid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line, with the request id appended when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid, tid = request_id.get(), ticket_id.get()
        tags = [f"request={rid}"] if rid else []
        tid = getattr(record, "ticket_id", tid)
        if tid is not None:
            tags.append(f"ticket={tid}")
        return f"{line} [{' '.join(tags)}]" if tags else line


def log_format() -> str:
    value = os.environ.get("HUB_LOG_FORMAT", "text").strip().lower() or "text"
    if value not in ("text", "json"):
        print(f"hub: HUB_LOG_FORMAT: expected text or json, got {value!r}", file=sys.stderr)
        raise SystemExit(2)
    return value


_installed: dict[str, str] = {}


def setup_logging(level: str = "INFO", process: str = "") -> None:
    """Install the root handler (stderr) in the configured format; every logger goes through it."""
    _installed.update(level=level, process=process)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(process) if log_format() == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(os.environ.get("HUB_LOG_LEVEL", level).upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per outgoing request otherwise
    # Litestar's own logger (unhandled exceptions) has a handler of its own: send it through ours.
    litestar_logger = logging.getLogger("litestar")
    for old in list(litestar_logger.handlers):
        litestar_logger.removeHandler(old)
    litestar_logger.propagate = True


def reinstall() -> None:
    """Put the hub's handler back after a library configured logging (Litestar does, at app creation)."""
    if _installed:
        setup_logging(_installed["level"], _installed["process"])
