"""Sign-in throttling: failed passwords are counted per account *and* client address.

The rule (docs/security.md, "Accounts"):
- An attempt first takes a numbered slot on its (account, address) counter and on its address's
  counter, in one atomic step (Redis `INCR`, or one SQL `INSERT ... ON CONFLICT ... RETURNING`
  without Redis). Only then is the password checked, so forty parallel guesses cannot all pass
  a read-then-write check: slots 6 to 40 are refused before any password is compared.
- A slot past `PAIR_LIMIT` (this address failed too often on this account) or past
  `ADDRESS_LIMIT` (this address failed too often on any account) is refused with 429 until the
  window ends. A right password frees its slots: an office behind one address is not counted
  for its colleagues' successful sign-ins.
- Failures grow a delay before the password is checked: per (account, address) from the third
  attempt (0.5 s, 1 s, 2 s), and for the account from any address once it has failed
  `ACCOUNT_FREE` times in the window (a slow-down, capped at `MAX_DELAY_S`, never a refusal).
  So the right password from an address that has not failed is never refused: a guesser
  elsewhere cannot lock an agent out, only slow their sign-in by a few seconds.

Counters live in Redis when `HUB_REDIS_URL` is set (shared by every `hub web`), otherwise in
the `login_throttle` table.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

WINDOW_S = 15 * 60
PAIR_LIMIT = 5
ADDRESS_LIMIT = 100
ACCOUNT_FREE = 10
BASE_DELAY_S = 0.5
MAX_DELAY_S = 4.0


class Counters(Protocol):
    async def hit(self, key: str, window_s: int) -> tuple[int, int]: ...  # (count, seconds left)
    async def get(self, key: str) -> int: ...
    async def release(self, key: str) -> None: ...  # one less, never below zero
    async def clear(self, key: str) -> None: ...


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt's slots: `refused_for` > 0 means answer 429 (Retry-After seconds)."""

    keys: tuple[str, str, str]  # (account+address, address, account)
    refused_for: int
    delay_s: float


class LoginThrottle:
    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    @staticmethod
    def _keys(email: str, address: str) -> tuple[str, str, str]:
        who = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]
        return f"p:{who}:{address}", f"a:{address}", f"u:{who}"

    async def begin(self, email: str, address: str) -> Attempt:
        pair, addr, account = keys = self._keys(email, address)
        n_pair, left_pair = await self.counters.hit(pair, WINDOW_S)
        n_addr, left_addr = await self.counters.hit(addr, WINDOW_S)
        if n_pair > PAIR_LIMIT or n_addr > ADDRESS_LIMIT:
            return Attempt(keys, max(left_pair if n_pair > PAIR_LIMIT else 0,
                                     left_addr if n_addr > ADDRESS_LIMIT else 0, 1), 0.0)
        failed_account = await self.counters.get(account)
        steps = max(n_pair - 2, failed_account - ACCOUNT_FREE + 1, 0)
        delay = 0.0 if steps == 0 else min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (steps - 1))
        return Attempt(keys, 0, delay)

    async def wait(self, attempt: Attempt) -> None:
        if attempt.delay_s:
            await asyncio.sleep(attempt.delay_s)

    async def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the slots stay taken and the account's count grows."""
        await self.counters.hit(attempt.keys[2], WINDOW_S)

    async def second_factor_failed(self, email: str, address: str) -> None:
        """A wrong second-factor code counts as a failed attempt of this account and address."""
        pair, _, account = self._keys(email, address)
        await self.counters.hit(pair, WINDOW_S)
        await self.counters.hit(account, WINDOW_S)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: this address starts afresh on this account."""
        await self.counters.clear(attempt.keys[0])
        await self.counters.release(attempt.keys[1])


# Backends ------------------------------------------------------------------------------------


class RedisCounters:
    """`INCR` with the window's expiry set by the first hit (one MULTI/EXEC)."""

    _RELEASE = ("if redis.call('exists', KEYS[1]) == 1 and tonumber(redis.call('get', KEYS[1])) > 0 "
                "then return redis.call('decr', KEYS[1]) end return 0")

    def __init__(self, redis: Any, namespace: str) -> None:
        self.redis = redis
        self.ns = namespace

    async def hit(self, key: str, window_s: int) -> tuple[int, int]:
        name = f"{self.ns}:{key}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(name, 0, ex=window_s, nx=True)
            pipe.incr(name)
            pipe.ttl(name)
            _, count, ttl = await pipe.execute()
        return int(count), max(int(ttl), 1)

    async def get(self, key: str) -> int:
        raw = await self.redis.get(f"{self.ns}:{key}")
        return int(raw or 0)

    async def release(self, key: str) -> None:
        await self.redis.eval(self._RELEASE, 1, f"{self.ns}:{key}")

    async def clear(self, key: str) -> None:
        await self.redis.delete(f"{self.ns}:{key}")


class SQLCounters:
    """One statement per step on the `login_throttle` table (SQLite 3.35+ and PostgreSQL)."""

    _HIT = text(
        "INSERT INTO login_throttle (key, count, expires_at) VALUES (:key, 1, :expires) "
        "ON CONFLICT (key) DO UPDATE SET "
        "count = CASE WHEN login_throttle.expires_at <= :now THEN 1 ELSE login_throttle.count + 1 END, "
        "expires_at = CASE WHEN login_throttle.expires_at <= :now THEN :expires "
        "ELSE login_throttle.expires_at END "
        "RETURNING count, expires_at"
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def hit(self, key: str, window_s: int) -> tuple[int, int]:
        now = int(time.time())
        async with self.engine.begin() as conn:
            count, expires = (await conn.execute(self._HIT, {"key": key, "now": now, "expires": now + window_s})).one()
        # `now` was read before waiting for a connection: another attempt may have opened the window later.
        return int(count), min(max(int(expires) - int(time.time()), 1), window_s)

    async def get(self, key: str) -> int:
        async with self.engine.connect() as conn:
            value = (await conn.execute(text(
                "SELECT count FROM login_throttle WHERE key = :key AND expires_at > :now"
            ), {"key": key, "now": int(time.time())})).scalar()
        return int(value or 0)

    async def release(self, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(
                "UPDATE login_throttle SET count = count - 1 WHERE key = :key AND count > 0"
            ), {"key": key})

    async def clear(self, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM login_throttle WHERE key = :key OR expires_at <= :now"),
                               {"key": key, "now": int(time.time())})
