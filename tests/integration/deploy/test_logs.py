"""Structured logs: JSON lines with the request and ticket ids, bound by the web middleware."""

from __future__ import annotations

import json
import logging
import sys

from litestar import Litestar, get
from litestar.params import FromPath
from litestar.testing import TestClient

from runtime import logs
from runtime.metrics import observe


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "hub.test", "levelno": logging.WARNING, "levelname": "WARNING",
                                    "msg": message, "args": ()})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_bound_ids_and_extra_fields() -> None:
    formatter = logs.JsonFormatter(process="worker")
    rid, tid = logs.request_id.set("r-1"), logs.ticket_id.set(42)
    try:
        entry = json.loads(formatter.format(_record("sent %s", outbox_id=7)))
    finally:
        logs.request_id.reset(rid)
        logs.ticket_id.reset(tid)
    assert entry["message"] == "sent %s" and entry["level"] == "WARNING" and entry["logger"] == "hub.test"
    assert entry["process"] == "worker" and entry["request_id"] == "r-1" and entry["ticket_id"] == 42
    assert entry["outbox_id"] == 7 and entry["time"].endswith("+00:00")
    # Outside a request nothing is bound: no empty keys.
    assert "request_id" not in json.loads(formatter.format(_record("idle")))


def test_exceptions_stay_inside_one_json_line() -> None:
    formatter = logs.JsonFormatter()
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line
    assert "ValueError: bad" in json.loads(line)["exc_info"]


def test_text_lines_get_the_ids_appended() -> None:
    rid = logs.request_id.set("r-2")
    try:
        line = logs.TextFormatter().format(_record("hello", ticket_id=9))
    finally:
        logs.request_id.reset(rid)
    assert line.endswith("hello [request=r-2 ticket=9]")


def test_the_middleware_binds_request_and_ticket_ids_for_the_handlers_logs() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.bound = (logs.request_id.get(), logs.ticket_id.get())
            seen.append(record)

    @get("/api/v1/tickets/{ticket_id:int}")
    async def ticket(ticket_id: FromPath[int]) -> dict[str, int]:
        logging.getLogger("hub.test.handler").warning("looked at a ticket")
        return {"id": ticket_id}

    keep = Keep()
    logger = logging.getLogger("hub.test.handler")
    logger.addHandler(keep)
    try:
        with TestClient(Litestar([ticket], middleware=[observe])) as client:
            answer = client.get("/api/v1/tickets/123", headers={"x-request-id": "abc-123"})
    finally:
        logger.removeHandler(keep)
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "abc-123"
    assert [r.bound for r in seen] == [("abc-123", 123)]  # type: ignore[attr-defined]
    assert (logs.request_id.get(), logs.ticket_id.get()) == (None, None)  # unbound after the request
