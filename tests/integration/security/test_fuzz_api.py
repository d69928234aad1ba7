"""Fuzzing at the HTTP edge, against a real uvicorn server.

- schemathesis generates requests from `/schema/openapi.json` for every API operation (as an
  admin, who passes every role guard, so the handlers themselves are reached): no 5xx, and
  every response matches the schema and its declared content type.
- hypothesis posts arbitrary, correctly signed WhatsApp webhooks: the answer is 200 (stored) or
  400 (a clear parse error), never a 5xx. (The parsers themselves are fuzzed in
  tests/unit/channels/whatsapp/test_parse.py and tests/unit/channels/email/test_parse.py.)
Examples are derandomized (a fixed seed: CI runs the same ones every time) and bounded:
`HUB_TEST_FUZZ_EXAMPLES` per operation (default 40, about two minutes on a busy machine). The
database is this run's backend (PostgreSQL in CI's second run, whose 32-bit ids overflow first).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hub.config import Settings
from tests.support.agent_ui import PASSWORD, _make_agents, citizen_writes
from tests.support.live_server import LiveServer
from tests.conftest import make_settings, whatsapp_env
from tests.support import fake_twilio, services

EXAMPLES_PER_OPERATION = int(os.environ.get("HUB_TEST_FUZZ_EXAMPLES", "40"))
# Found by this test, reported to the owners, excluded until fixed (remove the line when fixed):
KNOWN = {
}
# Operations that can end the fuzzer's own token (revoking it, or changing the password or second
# factor it depends on): fuzzed last, so every other operation is reached with a working token.
ENDS_THE_TOKEN = {
    "DELETE /api/v1/auth/token", "PUT /api/v1/agents/me/password", "PUT /api/v1/agents/{agent_id}/password",
    "DELETE /api/v1/agents/{agent_id}/two-factor",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Settings, str]]:
    from entrypoints.web import create_app
    from tests.conftest import _db_url
    from tests.support import databases

    tmp_path = tmp_path_factory.mktemp("fuzz")
    db_url = _db_url(databases.backend(), tmp_path)  # its own database: hypothesis reuses it across examples
    port = services.free_port()
    settings = make_settings(tmp_path, db_url, public_url=f"http://127.0.0.1:{port}")
    asyncio.run(_make_agents(settings))
    for channel in ("email", "whatsapp"):
        citizen_writes(settings, channel, body="Hola")
    with pytest.MonkeyPatch.context() as monkeypatch:  # the WhatsApp channel's account, read at start-up
        whatsapp_env(monkeypatch, twilio_account_sid=fake_twilio.ACCOUNT_SID, twilio_auth_token=fake_twilio.AUTH_TOKEN,
                     twilio_whatsapp_from=fake_twilio.WHATSAPP_FROM, twilio_api_url="http://127.0.0.1:9")
        app = create_app(settings)
    with LiveServer(app, port=port) as live:
        r = httpx.post(f"{live.url}/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD})
        yield live, settings, r.json()["token"]


def test_the_api_answers_every_generated_request_without_5xx_and_as_documented(
    server: tuple[LiveServer, Settings, str],
) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

    live, _, token = server
    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]
    operations.sort(key=lambda op: f"{op.method.upper()} {op.path}" in ENDS_THE_TOKEN)
    assert len(operations) >= 15  # the API is really there
    failures: list[str] = []
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    for operation in operations:
        if f"{operation.method.upper()} {operation.path}" in KNOWN:
            continue
        strategy = operation.as_strategy()

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, checks=checks)

        try:
            run()
        except BaseException as exc:  # noqa: BLE001  (collect every operation's failure, not only the first)
            if isinstance(exc, KeyboardInterrupt):
                raise
            text = "\n".join([str(exc), *(str(e) for e in getattr(exc, "exceptions", []))])
            failures.append(f"{operation.method.upper()} {operation.path}: {text[:800]}")
    assert not failures, "\n\n".join(failures)


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
KEYS = st.sampled_from(["Body", "From", "WaId", "MessageSid", "NumMedia", "MediaUrl0", "MediaContentType0",
                        "ProfileName", "MessageType", "Latitude", "Longitude", "ButtonPayload", "To"])


@settings(max_examples=60, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(extra=st.dictionaries(KEYS | st.text(max_size=8), TEXT, max_size=8), drop=st.sets(KEYS, max_size=4))
def test_signed_arbitrary_webhooks_get_200_or_400_never_5xx(
    server: tuple[LiveServer, Settings, str], extra: dict[str, str], drop: set[str],
) -> None:
    live, _, _ = server
    form = fake_twilio.inbound_form("SMfuzz", "Hola")
    form.update(extra)
    for key in drop:
        form.pop(key, None)
    path = "/webhooks/twilio/whatsapp"
    r = httpx.post(live.url + path, data=form,
                   headers=fake_twilio.signed_headers(fake_twilio.AUTH_TOKEN, live.url + path, form), timeout=10)
    assert r.status_code in (200, 400), (r.status_code, r.text[:200], form)
