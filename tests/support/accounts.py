"""Helpers for the accounts tests: the app running in this test's event loop, a second browser."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """The app with its lifespan started; yields a factory of clients, each from its own address."""
    # The lifespan runs in this test's event loop, like every request below (the Redis and
    # database connections it opens belong to one loop).
    async with app.lifespan():
        clients: list[httpx.AsyncClient] = []

        def from_address(address: str) -> httpx.AsyncClient:
            c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                                  base_url="https://testserver.local")
            clients.append(c)
            return c

        try:
            yield from_address
        finally:
            for c in clients:
                await c.aclose()


def another_browser(client: Any) -> Any:
    """A second browser beside `client`: a TestClient on a twin of its app (same settings,
    database and clock; with Redis, the same sessions). Each TestClient runs its own event loop,
    so two of them on one app would share Redis connections across loops."""
    from litestar.testing import TestClient

    from entrypoints.web import create_app

    app = client.app
    return TestClient(create_app(app.state.settings, clock=app.state.ctx.clock), base_url="https://testserver.local")
