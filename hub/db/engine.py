"""Engines and sessions: one place that knows how to talk to SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


_ENCODER = msgspec.json.Encoder()


def _json_text(value: Any) -> str:
    return _ENCODER.encode(value).decode()


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin_immediate(conn: Any) -> None:
            # Take the write lock at BEGIN: read-then-write transactions never fail half-way
            # with "database is locked" when two writers meet; they queue instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # pysqlite's own transaction handling must be off for the explicit BEGIN above.
        @event.listens_for(engine.sync_engine, "connect", insert=True)
        def _sqlite_autocommit_off(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    kw.setdefault("pool_size", 10)
    # JSONB values are encoded by msgspec: a tenth of `json.dumps`'s CPU, the same JSON (PostgreSQL
    # keeps JSONB parsed, so spacing and escapes never reach a reader). A batch of inbound
    # messages writes a few JSON values per message (events' data, messages' meta).
    kw.setdefault("json_serializer", _json_text)
    kw.setdefault("max_overflow", 20)
    engine = create_async_engine(url, **kw)
    if not kw.get("pool_pre_ping"):
        event.listen(engine.sync_engine, "checkout", _closed_by_the_server)
    return engine


def _closed_by_the_server(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Checkout: a pooled connection the server closed (PostgreSQL restarted, its backend
    terminated) is never handed out; it and every connection pooled before it are replaced.

    Instead of `pool_pre_ping`, which asks the server (BEGIN, an empty query, ROLLBACK: three
    round trips per checkout, as much as the request's own statement): asyncpg learns of the
    closed socket as it happens, so asking it costs nothing. A connection that dies between
    this check and its statement fails that statement, and SQLAlchemy then drops the pool
    (`is_disconnect`) as the ping would have."""
    if record.driver_connection.is_closed():
        raise exc.InvalidatePoolError("the server closed this pooled connection")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads that need no transaction of their own (a queue, a list, a token).

    PostgreSQL: autocommit, so a read is its statements and nothing else: no BEGIN before, no
    ROLLBACK when the session closes (two round trips, each as dear to the web process as the
    read itself). Under READ COMMITTED every statement takes its own snapshot inside a
    transaction too, so a read of several statements sees what it saw before. SQLite: the
    usual sessions (its transactions are what keep a reader out of a writer's way)."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return make_sessionmaker(engine)
