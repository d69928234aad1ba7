"""Operators' endpoints: liveness, readiness and Prometheus metrics.

`/metrics` tells a reader about the office's workload, so it answers only clients on an
allow-listed network (`HUB_METRICS_ALLOW`, default loopback; behind a proxy the forwarded
client address counts) or presenting `Authorization: Bearer <HUB_METRICS_TOKEN>`; others get 403.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from hub.config import Settings
from hub.context import HubContext


@get("/healthz", exclude_from_auth=True, include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", exclude_from_auth=True, include_in_schema=False)
async def readyz(ctx: NamedDependency[HubContext], state: State) -> Response[dict[str, Any]]:
    checks: dict[str, str] = {}
    async def select_one() -> None:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(select_one(), timeout=3)  # connecting counts too: a dropped SYN must not hang
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        from runtime.broker import broker_ready

        await asyncio.wait_for(asyncio.to_thread(broker_ready, state.broker), timeout=3)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    for name, probe in getattr(state, "readiness_probes", {}).items():
        checks[name] = probe()
    ready = all(v == "ok" for v in checks.values())
    return Response({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


def may_read_metrics(request: Request[Any, Any, Any], settings: Settings) -> bool:
    token = settings.metrics_token
    given = request.headers.get("authorization", "")
    if token and given[:7].lower() == "bearer " and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
        return True
    try:
        client = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    networks = (ipaddress.ip_network(p.strip(), strict=False) for p in settings.metrics_allow.split(",") if p.strip())
    return any(client in net for net in networks)


@get("/metrics", exclude_from_auth=True, include_in_schema=False, media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Response[bytes]:
    from runtime.metrics import refresh

    if not may_read_metrics(request, ctx.settings):
        return Response(b"metrics are private: allow-listed networks or a bearer token only\n", status_code=403,
                        media_type="text/plain")
    await refresh(ctx)  # the database-derived gauges, cached for a few seconds
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
