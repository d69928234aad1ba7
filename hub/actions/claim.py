"""Claiming accepted inbound messages: which inbox rows a transaction of the worker processes.

A broker job names inbox rows, but only as a hint of whose messages wait: the database decides
what is processed. A transaction claims a sender by locking the sender's OLDEST unprocessed row
(FOR UPDATE SKIP LOCKED on PostgreSQL: a sender another worker holds is skipped, never
overtaken); owning that row, it takes the sender's unprocessed rows in id order. A later row is
never processed while an earlier row of its sender is unprocessed, so lost, repeated or
reordered jobs, several workers and restarts cannot change the order. On SQLite every write
transaction is serial (BEGIN IMMEDIATE), so the same queries are exact there without row locks.
After its commit a worker looks again at the senders it held: a row that arrived meanwhile (whose
own job found the sender held) is processed then, not left waiting (`hub.actions.messages`).

On PostgreSQL every step is an index probe per hinted row or per sender (LATERAL subqueries and
LIMIT 1 lookups), so no plan the planner may pick can walk the inbox: the table keeps every
message ever received, and autovacuum may never have analysed it. (The claim used to be one
anti-join, "no earlier unprocessed row of the sender": planned while the inbox looked empty, it
compared every pending row with every hinted one, a second per job at a backlog of a few thousand
rows and 30-40 s at 14,000.) The statements are text, built once: arrays bind as one parameter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, bindparam, cast, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased
from sqlalchemy import exists
from sqlmodel import col, select

from hub.actions.unit import UnitOfWork
from hub.db.tables import Inbox

BATCH_ROWS = 500  # rows per transaction at most (a sender's later rows wait for the next pass)

# A sender's oldest unprocessed row, read off the pending rows' (sender, id) index.
_OLDEST = "SELECT p.id FROM inbox AS p WHERE p.sender = s.sender AND p.processed_at IS NULL ORDER BY p.id LIMIT 1"


def _lock_heads(senders: str) -> str:
    return f"""
SELECT locked.id, locked.sender
FROM (SELECT DISTINCT ({_OLDEST}) AS id FROM {senders}) AS head,
     LATERAL (SELECT i.id, i.sender FROM inbox AS i WHERE i.id = head.id AND i.processed_at IS NULL
              FOR UPDATE SKIP LOCKED) AS locked"""


_IDS = postgresql.ARRAY(Inbox.__table__.c.id.type)  # type: ignore[attr-defined]
_SENDERS = postgresql.ARRAY(Inbox.__table__.c.sender.type)  # type: ignore[attr-defined]
# The hinted rows' senders' heads; and hinted rows without a sender (written by a version that
# did not record senders: no order to keep), locked the same way, as heads of no sender.
_HEADS_OF_HINT = text(_lock_heads(
    "(SELECT (SELECT h.sender FROM inbox AS h WHERE h.id = w.id) AS sender"
    " FROM unnest(CAST(:hint AS integer[])) AS w(id)) AS s"
) + """
UNION ALL
SELECT unordered.id, NULL
FROM unnest(CAST(:hint AS integer[])) AS w(id),
     LATERAL (SELECT i.id FROM inbox AS i WHERE i.id = w.id AND i.sender IS NULL AND i.processed_at IS NULL
              FOR UPDATE SKIP LOCKED) AS unordered""").bindparams(bindparam("hint", type_=_IDS))
_HEADS_OF_SENDERS = text(_lock_heads("unnest(CAST(:senders AS varchar[])) AS s(sender)")).bindparams(
    bindparam("senders", type_=_SENDERS))
_ROWS_OF_SENDERS = text(f"""
SELECT r.id, r.payload
FROM unnest(CAST(:senders AS varchar[])) AS s(sender),
     LATERAL (SELECT i.id, CAST(i.payload AS TEXT) AS payload FROM inbox AS i
              WHERE i.sender = s.sender AND i.processed_at IS NULL ORDER BY i.id LIMIT {BATCH_ROWS} FOR UPDATE) AS r
ORDER BY r.id LIMIT {BATCH_ROWS}""").bindparams(bindparam("senders", type_=_SENDERS))
_PAYLOADS = text("""
SELECT w.id, (SELECT CAST(i.payload AS TEXT) FROM inbox AS i WHERE i.id = w.id) AS payload
FROM unnest(CAST(:ids AS integer[])) AS w(id)""").bindparams(bindparam("ids", type_=_IDS))


async def claim(uow: UnitOfWork, hint: list[int] | None, senders: set[str]) -> tuple[list[tuple[int, str]], set[str]]:
    """The rows (id, payload as JSON text) this transaction processes, in id order, and the
    senders it holds: those of the hinted rows (`hint`), or else `senders`, that no other
    transaction holds. Each sender's rows come in arrival order, starting with its oldest."""
    if uow.ctx.engine.dialect.name != "postgresql":
        return await _claim_sqlite(uow, hint, senders)
    conn = await uow.session.connection()
    if hint is not None:
        heads = (await conn.execute(_HEADS_OF_HINT, {"hint": hint})).all()
    else:
        heads = (await conn.execute(_HEADS_OF_SENDERS, {"senders": sorted(senders)})).all()
    held = {sender for _, sender in heads if sender is not None}
    rows = list((await conn.execute(_ROWS_OF_SENDERS, {"senders": sorted(held)})).all()) if held else []
    unordered = [i for i, sender in heads if sender is None]
    if unordered:
        rows += (await conn.execute(_PAYLOADS, {"ids": unordered})).all()
        rows.sort()
    return [(i, payload) for i, payload in rows], held


async def _claim_sqlite(uow: UnitOfWork, hint: list[int] | None, senders: set[str]) -> tuple[list[tuple[int, str]], set[str]]:
    if hint is not None:
        of_senders = col(Inbox.sender).in_(select(Inbox.sender).where(col(Inbox.id).in_(hint), col(Inbox.sender).is_not(None)))
    else:
        of_senders = col(Inbox.sender).in_(sorted(senders))
    earlier = aliased(Inbox)
    heads = (await uow.session.exec(select(Inbox.id, Inbox.sender).where(  # type: ignore[call-overload]
        col(Inbox.processed_at).is_(None), of_senders,
        ~exists().where(earlier.sender == Inbox.sender, col(earlier.processed_at).is_(None), earlier.id < Inbox.id),
    ))).all()
    held = {sender for _, sender in heads}
    payload = cast(Inbox.payload, Text)
    rows: list[Any] = list((await uow.session.exec(  # type: ignore[call-overload]
        select(Inbox.id, payload).where(col(Inbox.processed_at).is_(None), col(Inbox.sender).in_(sorted(held)))
        .order_by(col(Inbox.id)).limit(BATCH_ROWS)
    )).all()) if held else []
    if hint is not None:
        rows += (await uow.session.exec(select(Inbox.id, payload).where(  # type: ignore[call-overload]
            col(Inbox.id).in_(hint), col(Inbox.sender).is_(None), col(Inbox.processed_at).is_(None),
        ))).all()
        rows.sort()
    return [(i, payload) for i, payload in rows], held
