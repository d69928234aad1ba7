"""Live push against real uvicorn servers: SSE for logged-in agents, Redis fan-out between
instances, and concurrent "take next" requests over HTTP on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import PASSWORD, Logins, _make_agents
from tests.support.live_server import LiveServer, login
from tests.conftest import make_settings
from agent_ui.live import CLOCK_SLACK_MS
from tests.support import services
from tests.support.cookies import csrf_token


def _settings(tmp_path: Path, db_url: str, **extra: Any) -> Settings:
    return make_settings(tmp_path, db_url, public_url="http://127.0.0.1:8000", **extra)


async def _arrive(settings: Settings, channel: str = "email", who: str = "laia@example.net", n: int = 1) -> int:
    """A citizen writes, through a context wired like a worker's (bus -> live push)."""
    from datetime import UTC, datetime

    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage
    from runtime.reactions import wire_live_only

    ctx = HubContext.create(settings)
    wire_live_only(ctx)
    try:
        got = await do_receive_message(ctx, InboundMessage(
            channel=channel, provider_id=f"<live-{n}@example.net>", received_at=datetime.now(UTC), body="Hola",
            identities=[IdentityIn("email", who)], subject="Padró",
        ))
        assert got.ticket_id is not None
        return got.ticket_id
    finally:
        await ctx.close()


async def _first_for(lines: AsyncIterator[str], ticket_id: int) -> dict[str, Any]:
    async for line in lines:
        if line.startswith("data:"):
            event = json.loads(line[5:].strip())
            if event.get("ticket_id") == ticket_id:
                return event
    raise AssertionError("stream ended")


@pytest.fixture
def sse_settings(tmp_path: Path, db_url: str) -> Settings:
    return _settings(tmp_path, db_url)


@pytest.fixture
def server(sse_settings: Settings) -> Iterator[LiveServer]:
    from entrypoints.web import create_app

    asyncio.run(_make_agents(sse_settings))
    with LiveServer(create_app(sse_settings)) as srv:
        yield srv


async def test_events_need_a_login(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.get("/events")
        assert answer.status_code == 401


async def test_a_new_ticket_reaches_an_open_event_stream(server: LiveServer, sse_settings: Settings) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        await login(client, "agent@example.org", PASSWORD)
        async with client.stream("GET", "/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith(": connected")
            ticket_id = await _arrive(sse_settings)
            event = await asyncio.wait_for(_first_for(lines, ticket_id), timeout=10)
            assert event["type"] in ("created", "ticket_changed", "queued", "message_received")
            assert set(event) >= {"type", "ticket_id"}
            assert "Hola" not in json.dumps(event)  # ids only: no citizen text on the wire


async def test_a_change_between_rendering_and_listening_makes_the_page_resync(
    server: LiveServer, sse_settings: Settings,
) -> None:
    import time

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        await login(client, "agent@example.org", PASSWORD)
        page = await client.get("/")
        since = int(page.text.split('data-live="/events?since=', 1)[1].split('"', 1)[0])
        assert abs(since - time.time() * 1000) < 5_000  # the page says when it was rendered
        ticket_id = await _arrive(sse_settings, n=3)  # ... and then the queue changed

        async def first_data(url: str) -> dict[str, Any] | None:
            async with client.stream("GET", url) as response:
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith(": connected")
                try:
                    async with asyncio.timeout(1.5):
                        async for line in lines:
                            if line.startswith("data:"):
                                return dict(json.loads(line[5:].strip()))
                except TimeoutError:
                    return None
            return None

        deadline = time.monotonic() + 10
        while (seen := await first_data(f"/events?since={since}")) is None and time.monotonic() < deadline:
            pass  # the notice travels through the server's loop: wait until it was handed over
        assert seen == {"type": "resync", "ticket_id": None}
        assert ticket_id
        # A page rendered after the last change needs nothing. What the arrivals set off (the
        # acknowledgements' deliveries) may still be reported for a moment on a busy machine, and
        # those are changes too: once they stop, a fresh page must get no resync.
        deadline = time.monotonic() + 10
        while True:
            await asyncio.sleep(CLOCK_SLACK_MS / 1000 + 0.2)
            if await first_data(f"/events?since={int(time.time() * 1000)}") is None:
                break
            assert time.monotonic() < deadline, "a page rendered after the last change is still told to resync"


@pytest.mark.redis
async def test_an_event_on_one_instance_reaches_a_browser_on_another(tmp_path: Path, db_url: str) -> None:
    from entrypoints.web import create_app

    redis_url = services.require_redis()
    import secrets

    settings = _settings(tmp_path, db_url, redis_url=redis_url, secret_key=secrets.token_hex(16))
    await _make_agents(settings)
    with LiveServer(create_app(settings)) as a, LiveServer(create_app(settings)) as b:
        async with httpx.AsyncClient(base_url=a.url, timeout=10) as on_a, \
                httpx.AsyncClient(base_url=b.url, timeout=10) as on_b:
            await login(on_a, "agent@example.org", PASSWORD)
            # the session lives in Redis: instance B knows this agent too
            on_b.cookies = on_a.cookies
            assert (await on_b.get("/api/v1/agents/me")).status_code == 200
            ticket_id = await _arrive(settings, n=2)
            async with on_b.stream("GET", "/events") as response:
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith(": connected")
                # a change made through instance A ...
                headers = {"x-csrftoken": csrf_token(on_a)}
                taken = await on_a.post(f"/api/v1/tickets/{ticket_id}/assign", headers=headers)
                assert taken.status_code == 200, taken.text
                # ... is seen by the tab connected to instance B
                event = await asyncio.wait_for(_first_for(lines, ticket_id), timeout=10)
                assert event["ticket_id"] == ticket_id


@pytest.mark.postgres
async def test_concurrent_take_next_requests_never_share_a_ticket(tmp_path: Path) -> None:
    from entrypoints.web import create_app
    from tests.conftest import _db_url

    settings = await asyncio.to_thread(lambda: _settings(tmp_path, _db_url("postgres", tmp_path), auto_assign=False))
    logins: Logins = await _make_agents(settings)
    del logins
    for n in range(30):
        await _arrive(settings, who=f"c{n}@example.net", n=100 + n)
    with LiveServer(create_app(settings)) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
            tokens = []
            for email in ("agent@example.org", "agent2@example.org", "manager@example.org", "admin@example.org"):
                got = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
                tokens.append({"authorization": f"Bearer {got.json()['token']}"})

            async def click(headers: dict[str, str]) -> int | None:
                answer = await client.post("/api/v1/queue/next", headers=headers)
                assert answer.status_code == 200, answer.text
                ticket = answer.json()["ticket"]
                return ticket["id"] if ticket else None

            taken: list[int | None] = []
            for _ in range(10):
                taken += await asyncio.gather(*(click(h) for h in tokens))
    got = [t for t in taken if t is not None]
    assert len(got) == len(set(got)) == 30


async def _ends_within(lines: AsyncIterator[str], seconds: float) -> list[str]:
    """Read until the server ends the stream; fail if it is still sending after `seconds`."""
    seen: list[str] = []

    async def drain() -> None:
        async for line in lines:
            seen.append(line)

    await asyncio.wait_for(drain(), timeout=seconds)
    return seen


async def test_the_stream_ends_at_logout_and_at_deactivation(server: LiveServer, sse_settings: Settings) -> None:
    """Issue 13, finding 11: an open stream kept sending notices after logout or deactivation."""
    from agent_ui.live import CHECK_S

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as tab, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as admin:
        await login(tab, "agent@example.org", PASSWORD)
        async with tab.stream("GET", "/events") as response:
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith(": connected")
            out = await tab.post("/logout", data={"_csrf_token": csrf_token(tab)},
                                 headers={"x-csrftoken": csrf_token(tab)})
            assert out.status_code in (200, 303)
            await _arrive(sse_settings, n=31)  # a notice after logout must not reach this tab
            seen = await _ends_within(lines, CHECK_S + 3)
            assert not [line for line in seen if line.startswith("data:")], seen
        assert (await tab.get("/events")).status_code == 401  # and the reconnect is refused

        await login(tab, "agent2@example.org", PASSWORD)
        token = (await admin.post("/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD})).json()
        async with tab.stream("GET", "/events") as response:
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith(": connected")
            me = (await tab.get("/api/v1/agents/me")).json()
            gone = await admin.post(f"/api/v1/agents/{me['id']}/deactivate",
                                    headers={"authorization": f"Bearer {token['token']}"})
            assert gone.status_code == 204, gone.text
            started = asyncio.get_running_loop().time()
            await _ends_within(lines, CHECK_S + 3)
            assert asyncio.get_running_loop().time() - started < CHECK_S + 3
