"""Sign-in throttling (issue 13, finding 5): counted atomically, per account and address.

Reproduction kept: 40 parallel wrong passwords used to all get 401 (the counter was read, the
password checked, then the counter written), and after 5 failures the right password was
refused from anywhere, so anyone could lock an agent out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_ui import throttle as throttle_mod
from agent_ui.throttle import LoginThrottle, RedisCounters, SQLCounters
from tests.support.accounts import running
from tests.support.agent_ui import PASSWORD
from tests.support import services
from tests.support.cookies import csrf_token


async def _token(client: Any, password: str) -> int:
    answer = await client.post("/api/v1/auth/token", json={"email": "agent@example.org", "password": password})
    return answer.status_code


async def test_forty_parallel_wrong_passwords_get_at_most_the_limit_of_401s(app: Any) -> None:
    async with running(app) as from_address:
        attacker = from_address("203.0.113.7")
        codes = await asyncio.gather(*(_token(attacker, f"guess {i}") for i in range(40)))
        assert codes.count(401) <= throttle_mod.PAIR_LIMIT
        assert codes.count(401) + codes.count(429) == 40
        # the attacker's address is refused even with the right password...
        assert await _token(attacker, PASSWORD) == 429
        # ...but the agent, from an address that has not failed, signs in
        assert await _token(from_address("198.51.100.20"), PASSWORD) == 201


async def test_forty_parallel_wrong_passwords_on_the_form_get_at_most_the_limit_of_400s(app: Any) -> None:
    async with running(app) as from_address:
        attacker = from_address("203.0.113.8")
        await attacker.get("/login")
        token = csrf_token(attacker)

        async def post(password: str) -> int:
            answer = await attacker.post("/login", data={
                "email": "agent@example.org", "password": password, "next": "/", "_csrf_token": token})
            return answer.status_code

        codes = await asyncio.gather(*(post(f"guess {i}") for i in range(40)))
        assert codes.count(400) <= throttle_mod.PAIR_LIMIT and codes.count(429) >= 35
        agent = from_address("198.51.100.21")
        await agent.get("/login")
        answer = await agent.post("/login", data={"email": "agent@example.org", "password": PASSWORD,
                                                  "next": "/", "_csrf_token": csrf_token(agent)})
        assert answer.status_code == 303


async def test_a_refusal_says_when_to_try_again(app: Any) -> None:
    async with running(app) as from_address:
        attacker = from_address("203.0.113.9")
        for i in range(throttle_mod.PAIR_LIMIT):
            assert await _token(attacker, f"guess {i}") == 401
        answer = await attacker.post("/api/v1/auth/token", json={"email": "agent@example.org", "password": "x"})
        assert answer.status_code == 429
        assert 0 < int(answer.headers["retry-after"]) <= throttle_mod.WINDOW_S


# The throttle itself, on both of its backends ------------------------------------------------


@pytest.fixture(params=["sql", "redis"])
async def counters(request: pytest.FixtureRequest, ctx: Any) -> Any:
    if request.param == "sql":
        yield SQLCounters(ctx.engine)
        return
    from redis.asyncio import Redis

    redis = Redis.from_url(services.require_redis_db())
    yield RedisCounters(redis, "test-login")
    await redis.aclose()


async def test_hits_are_counted_atomically_under_concurrency(counters: Any) -> None:
    counts = await asyncio.gather(*(counters.hit("k", 60) for _ in range(30)))
    assert sorted(n for n, _ in counts) == list(range(1, 31))
    assert all(0 < left <= 60 for _, left in counts)


async def test_delays_grow_with_failures_from_one_address(counters: Any) -> None:
    t = LoginThrottle(counters)
    delays = []
    for _ in range(throttle_mod.PAIR_LIMIT):
        attempt = await t.begin("a@example.org", "192.0.2.1")
        assert attempt.refused_for == 0
        delays.append(attempt.delay_s)
        await t.failed(attempt)
    assert delays[:2] == [0.0, 0.0] and delays[2] > 0 and delays[2] < delays[3] < delays[4]
    assert (await t.begin("a@example.org", "192.0.2.1")).refused_for > 0
    fresh = await t.begin("a@example.org", "192.0.2.2")
    assert fresh.refused_for == 0 and fresh.delay_s == 0.0


async def test_an_account_failing_from_many_addresses_slows_down_but_is_never_refused(counters: Any) -> None:
    t = LoginThrottle(counters)
    for i in range(throttle_mod.ACCOUNT_FREE + 3):
        await t.failed(await t.begin("b@example.org", f"192.0.2.{i + 10}"))
    fresh = await t.begin("b@example.org", "198.51.100.1")
    assert fresh.refused_for == 0
    assert 0 < fresh.delay_s <= throttle_mod.MAX_DELAY_S


async def test_right_passwords_do_not_use_up_an_office_address(counters: Any) -> None:
    t = LoginThrottle(counters)
    for i in range(throttle_mod.ADDRESS_LIMIT + 5):
        attempt = await t.begin(f"agent{i}@example.org", "192.0.2.200")
        assert attempt.refused_for == 0
        await t.succeeded(attempt)
