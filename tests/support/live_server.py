"""A real uvicorn server in a thread (SSE cannot be tested through Litestar's TestClient)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn

from tests.support.services import free_port
from tests.support.cookies import csrf_token, session_cookie


class LiveServer:
    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


async def login(client: httpx.AsyncClient, email: str, password: str) -> None:
    await client.get("/login")
    answer = await client.post("/login", data={
        "email": email, "password": password, "next": "/", "_csrf_token": csrf_token(client),
    })
    assert answer.status_code in (200, 303), answer.text
    assert session_cookie(client), "login failed"
