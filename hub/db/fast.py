"""The one lean write: accepting an inbound webhook on PostgreSQL, straight through asyncpg.

A webhook's acknowledgement waits for one INSERT. Through SQLAlchemy that INSERT costs a pool
checkout with a liveness ping, statement compilation and result processing: about three
times the CPU of the statement itself (measured; see bench/webhooks.py and STACK-NOTES §9).
Here it is one prepared statement on a small asyncpg pool of its own. Everything else in the
hub goes through SQLAlchemy.

A connection that died (database restarted) fails its statement; the pool drops it and the
insert is tried once more on a fresh connection, so a restart costs no webhook more than the
restart itself.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from sqlalchemy.engine import make_url

INSERT_INBOX = (
    "INSERT INTO inbox (channel, provider_id, sender, payload, received_at, attempts) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, 0) ON CONFLICT (channel, provider_id) DO NOTHING RETURNING id"
)
_CONNECTION_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError, OSError)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """The pool's default reset is a round trip per release (RESET ALL, UNLISTEN, ...); this
    pool runs one autocommitted INSERT and never changes session state."""


class InboxWriter:
    """One per event loop (asyncpg pools belong to the loop that made them)."""

    def __init__(self, sqlalchemy_url: str, max_size: int = 10) -> None:
        self._dsn = asyncpg_dsn(sqlalchemy_url)
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._max_size, statement_cache_size=16,
                max_inactive_connection_lifetime=60, reset=_nothing_to_reset,
            )
        return self._pool

    async def insert(
        self, channel: str, provider_id: str, sender: str, payload: bytes, received_at: datetime,
    ) -> int | None:
        """The new row's id, or None when (channel, provider_id) was already accepted.

        `payload` is the row's JSON text, UTF-8 encoded (`hub.inbound.encode_json`)."""
        data = payload.decode()
        for attempt in (1, 2):
            pool = await self._get_pool()
            try:
                async with pool.acquire() as conn:
                    value = await conn.fetchval(INSERT_INBOX, channel, provider_id, sender, data, received_at)
                    return int(value) if value is not None else None
            except _CONNECTION_LOST:
                if attempt == 2:
                    raise
                pool.terminate()  # every connection of a restarted server is dead: start afresh
                self._pool = None
        return None  # not reached

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
