"""`hub.db.bulk.insert_rows`: many rows in one statement store exactly what SQLAlchemy's own
INSERT of the same rows stores, on both backends; on PostgreSQL it is one statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import delete, event, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from hub.db.bulk import insert_rows, insert_rows_async
from hub.db.migrate import upgrade
from hub.db.tables import EventRow

EVENTS = EventRow.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 12, 4, 23, 30, 5, 123456, tzinfo=UTC)
# PostgreSQL's text and JSON cannot hold NUL, whichever way a row is inserted.
_CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(_CHARS, max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(_CHARS, max_size=6), inner, max_size=3),
    max_leaves=8,
)
_event = st.fixed_dictionaries({
    "ticket_id": st.none(), "kind": st.text(_CHARS, min_size=1, max_size=40),
    "at": st.integers(0, 10**6).map(lambda s: NOW - timedelta(seconds=s, microseconds=s % 997)),
    "channel": st.none() | st.sampled_from(["whatsapp", "email", "phone"]), "agent_id": st.none(),
    "data": st.none() | st.dictionaries(st.text(_CHARS, max_size=8), _json, max_size=4),
})


async def _stored(engine: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        found = await conn.execute(select(EVENTS.c.kind, EVENTS.c.at, EVENTS.c.channel, EVENTS.c.data,
                                          EVENTS.c.ticket_id, EVENTS.c.agent_id).order_by(EVENTS.c.id))
        return [tuple(row) for row in found]


async def _both_ways(url: str, rows: list[dict[str, Any]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(EVENTS))
            await conn.execute(insert(EVENTS), rows)  # SQLAlchemy's own (executemany)
        theirs = await _stored(engine)
        async with engine.begin() as conn:
            await conn.execute(delete(EVENTS))
            await insert_rows_async(conn, EVENTS, rows)
        ours = await _stored(engine)
        return theirs, ours
    finally:
        await engine.dispose()


def test_rows_are_stored_as_sqlalchemys_insert_stores_them(any_db_url: str) -> None:
    import asyncio

    upgrade(any_db_url)

    @hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(_event, min_size=2, max_size=12))
    def check(rows: list[dict[str, Any]]) -> None:
        theirs, ours = asyncio.run(_both_ways(any_db_url, rows))
        assert ours == theirs
        assert len(ours) == len(rows)

    check()


def test_on_postgresql_a_thousand_rows_are_one_statement_and_sqlite_keeps_its_own_path(any_db_url: str) -> None:
    import asyncio

    upgrade(any_db_url)
    rows = [{"ticket_id": None, "kind": f"k{i}", "at": NOW, "channel": "email", "agent_id": None,
             "data": {"i": i, "text": "Què tal? ☎"}} for i in range(1000)]

    async def run() -> list[tuple[str, bool]]:
        engine = create_async_engine(any_db_url)
        seen: list[tuple[str, bool]] = []

        def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            seen.append((statement, executemany))

        event.listen(engine.sync_engine, "before_cursor_execute", note)
        try:
            async with engine.begin() as conn:
                await conn.execute(delete(EVENTS))
                seen.clear()
                await insert_rows_async(conn, EVENTS, rows)
                await conn.run_sync(lambda sync: insert_rows(sync, EVENTS, rows[:3]))
                count = len((await conn.execute(select(EVENTS.c.id))).all())
            assert count == 1003
            return seen[:-1]  # the count's SELECT
        finally:
            await engine.dispose()

    seen = asyncio.run(run())
    if any_db_url.startswith("postgresql"):
        assert [(s.split(" SELECT ")[0], many) for s, many in seen] == [
            ("INSERT INTO events (ticket_id, kind, at, channel, agent_id, data)", False)] * 2
        assert "unnest(" in seen[0][0]
    else:
        assert all("unnest" not in s for s, _ in seen)
