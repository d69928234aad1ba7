"""Fixtures for the web UI and API: an app on the test database, logins for each role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from hub.context import HubContext
from tests.support.cookies import csrf_token

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Logins:
    agent: int
    agent2: int
    manager: int
    admin: int


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    from hub.passwords import hash_password

    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per test session


async def _make_agents(settings: Settings) -> Logins:
    """Four logins as fixture rows (the creation action itself is tested elsewhere)."""
    from hub.db.tables import Agent

    ctx = HubContext.create(settings)
    now = ctx.clock.now()
    rows = [
        Agent(email="agent@example.org", name="Jordi Vidal", role="agent", capacity=3),
        Agent(email="agent2@example.org", name="Anna Serra", role="agent", capacity=3),
        Agent(email="manager@example.org", name="Marta Puig", role="manager"),
        Agent(email="admin@example.org", name="Admin OAC", role="admin"),
    ]
    try:
        async with ctx.sessionmaker() as session:
            for row in rows:
                row.password_hash, row.created_at, row.language = _password_hash(), now, "en"
                session.add(row)
            await session.commit()
            ids = [row.id for row in rows]
    finally:
        await ctx.close()
    return Logins(*ids)  # type: ignore[arg-type]


@pytest.fixture
def logins(settings: Settings) -> Logins:
    return _run(_make_agents(settings))


@pytest.fixture
def app(settings: Settings, logins: Logins) -> Litestar:
    from entrypoints.web import create_app

    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url="https://testserver.local") as c:
        yield c


def login(client: TestClient[Litestar], email: str, password: str = PASSWORD) -> Any:
    client.get("/login")
    return client.post("/login", data={
        "email": email, "password": password, "next": "/", "_csrf_token": csrf_token(client),
    }, follow_redirects=False)


def token_for(client: TestClient[Litestar], email: str) -> dict[str, str]:
    """An API token of one of the fixture logins, as the header that carries it."""
    answer = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return {"authorization": f"Bearer {answer.json()['token']}"}


# API tokens of the fixture logins, as request headers.
@pytest.fixture
def agent(client: TestClient[Litestar]) -> dict[str, str]:
    return token_for(client, "agent@example.org")


@pytest.fixture
def agent2(client: TestClient[Litestar]) -> dict[str, str]:
    return token_for(client, "agent2@example.org")


@pytest.fixture
def manager(client: TestClient[Litestar]) -> dict[str, str]:
    return token_for(client, "manager@example.org")


def csrf(client: TestClient[Litestar]) -> dict[str, str]:
    if not csrf_token(client):
        client.get("/login")
    return {"x-csrftoken": csrf_token(client)}


# Citizens writing in (through the core action, as a channel would) --------------------------

_counter = iter(range(1, 10**9))


async def _receive(settings: Settings, channel: str, body: str, who: str, identify: bool = True,
                   subject: str = "Padró") -> int:
    from datetime import UTC, datetime

    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage

    ctx = HubContext.create(settings)
    try:
        kind = "email" if channel == "email" else "phone"
        n = next(_counter)
        got = await do_receive_message(ctx, InboundMessage(
            channel=channel, provider_id=f"test-{n}", received_at=datetime.now(UTC), body=body,
            identities=[IdentityIn(kind, who)], display_hint="Profile", subject=subject if channel == "email" else "",
        ))
        if channel == "whatsapp" and identify:
            got = await do_receive_message(ctx, InboundMessage(
                channel=channel, provider_id=f"test-{n}-name", received_at=datetime.now(UTC), body="Em dic Laia Pons",
                identities=[IdentityIn(kind, who)],
            ))
        assert got.ticket_id is not None
        return got.ticket_id
    finally:
        await ctx.close()


def citizen_writes(settings: Settings, channel: str = "email", body: str = "Hola", who: str | None = None,
                   identify: bool = True, subject: str = "Padró") -> int:
    """A citizen's message arrives; returns the ticket id."""
    if who is None:
        n = next(_counter)
        who = f"citizen{n}@example.net" if channel == "email" else f"+346001{n:05d}"
    return _run(_receive(settings, channel, body, who, identify, subject))
