"""The agents' pages, rendered by the real app: queue lanes, ticket page, forms, escaping, roles."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import Logins, citizen_writes, csrf, login
from tests.support.cookies import csrf_token


def form(client: TestClient[Litestar], path: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={**fields, "_csrf_token": csrf_token(client)},
                       follow_redirects=False)


def test_queue_page_shows_the_lanes(client: TestClient[Litestar], settings: Settings) -> None:
    waiting = citizen_writes(settings, "email", who="anna@example.net")
    identifying = citizen_writes(settings, "whatsapp", identify=False)
    login(client, "agent@example.org")
    html = client.get("/").text
    waiting_lane = html[html.index('id="lane-waiting"'):html.index('id="lane-identifying"')]
    identifying_lane = html[html.index('id="lane-identifying"'):html.index('id="lane-mine"')]
    assert f'href="/tickets/{waiting}"' in waiting_lane and "data-since" in waiting_lane
    assert f'href="/tickets/{identifying}"' in identifying_lane
    assert f'action="/tickets/{identifying}/assign"' not in html  # identifying tickets are not assignable
    assert 'data-live-src="/queue/lanes"' in html
    fragment = client.get("/queue/lanes", headers={"x-hub-fragment": "1"}).text
    assert "<html" not in fragment and f'href="/tickets/{waiting}"' in fragment
    assert f'href="/tickets/{waiting}"' not in client.get("/?channel=whatsapp").text


def test_take_next_reply_and_resolve_through_forms(client: TestClient[Litestar], settings: Settings) -> None:
    ticket = citizen_writes(settings, "whatsapp", "Vull pagar una taxa")
    login(client, "agent@example.org")
    taken = form(client, "/queue/next")
    assert taken.status_code == 303 and taken.headers["location"] == f"/tickets/{ticket}"
    page = client.get(f"/tickets/{ticket}").text
    assert "Vull pagar una taxa" in page and "Laia Pons" in page
    assert "24-hour window is open" in page
    assert form(client, f"/tickets/{ticket}/reply", body="Li envio l'enllaç").status_code == 303
    page = client.get(f"/tickets/{ticket}").text
    assert "Li envio l&#39;enllaç" in page and 'data-delivery="queued"' in page
    assert "Reply queued for sending." in page  # the flash, shown once
    assert "Reply queued for sending." not in client.get(f"/tickets/{ticket}").text
    assert form(client, f"/tickets/{ticket}/resolve", send_survey="1").status_code == 303
    assert 'data-status="resolved"' in client.get(f"/tickets/{ticket}").text


def test_a_refused_action_is_explained_and_changes_nothing(client: TestClient[Litestar], settings: Settings) -> None:
    ticket = citizen_writes(settings, "email")
    login(client, "agent@example.org")
    form(client, f"/tickets/{ticket}/resolve")
    answer = form(client, f"/tickets/{ticket}/reply", body="massa tard")
    assert answer.status_code == 303
    page = client.get(f"/tickets/{ticket}").text
    assert "flash-error" in page and "massa tard" not in page


def test_citizens_text_is_escaped_and_email_html_is_sandboxed(client: TestClient[Litestar], settings: Settings) -> None:
    import asyncio
    from datetime import UTC, datetime

    from hub.actions.messages import do_receive_message
    from hub.context import HubContext
    from hub.inbound import IdentityIn, InboundMessage

    async def arrive() -> int:
        ctx = HubContext.create(settings)
        try:
            got = await do_receive_message(ctx, InboundMessage(
                channel="email", provider_id="<x@evil>", received_at=datetime.now(UTC),
                identities=[IdentityIn("email", "evil@example.net")], display_hint="<img src=x onerror=alert(1)>",
                body="<script>alert('body')</script>", body_html="<p>Hola <b>OAC</b></p>", subject="<i>subject</i>",
            ))
            assert got.ticket_id is not None
            return got.ticket_id
        finally:
            await ctx.close()

    ticket = asyncio.run(arrive())
    login(client, "agent@example.org")
    for html in (client.get(f"/tickets/{ticket}").text, client.get("/").text):
        assert "<script>alert" not in html and "<img src=x" not in html and "<i>subject</i>" not in html
    page = client.get(f"/tickets/{ticket}").text
    assert "&lt;script&gt;alert(&#39;body&#39;)&lt;/script&gt;" in page
    assert re.search(r'<iframe sandbox="" [^>]*srcdoc="&lt;p&gt;Hola &lt;b&gt;OAC&lt;/b&gt;&lt;/p&gt;"', page)
    assert "script-src 'self'" in client.get(f"/tickets/{ticket}").headers["content-security-policy"]


def test_pages_follow_the_agents_language(client: TestClient[Litestar], settings: Settings) -> None:
    login(client, "agent@example.org")
    assert "Take next" in client.get("/").text
    form(client, "/language", lang="ca")
    assert "Agafa el següent" in client.get("/").text
    form(client, "/language", lang="es")
    assert "Coger el siguiente" in client.get("/").text


def test_presence_switch_form(client: TestClient[Litestar]) -> None:
    login(client, "agent@example.org")
    assert form(client, "/presence", status="available").status_code == 303
    assert client.get("/api/v1/agents/me").json()["presence"] == "available"
    assert '<option value="available" selected>' in client.get("/").text


@pytest.fixture
def roles_client(settings: Settings, logins: Logins) -> Iterator[TestClient[Litestar]]:
    from entrypoints.web import create_app
    from tests.support import roles_fixture_routes

    with TestClient(create_app(settings, extra_routes=roles_fixture_routes.ROUTES),
                    base_url="https://testserver.local") as c:
        yield c


def test_roles_are_enforced_on_pages_and_api(roles_client: TestClient[Litestar]) -> None:
    c = roles_client
    anonymous = c.get("/test-managers-page", headers={"accept": "text/html"}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    assert c.get("/api/v1/test-admins").status_code == 401
    login(c, "agent@example.org")
    assert c.get("/test-managers-page", headers={"accept": "text/html"}).status_code == 403
    assert c.get("/api/v1/test-admins").status_code == 403
    c.post("/logout", headers=csrf(c))
    login(c, "manager@example.org")
    assert c.get("/test-managers-page").status_code == 200
    assert c.get("/api/v1/test-admins").status_code == 403
    c.post("/logout", headers=csrf(c))
    login(c, "admin@example.org")
    assert c.get("/test-managers-page").status_code == 200
    assert c.get("/api/v1/test-admins").json() == {"ok": True}


def test_statistics_link_only_for_managers(client: TestClient[Litestar]) -> None:
    login(client, "agent@example.org")
    assert 'href="/stats"' not in client.get("/").text
    client.post("/logout", headers=csrf(client))
    login(client, "manager@example.org")
    assert 'href="/stats"' in client.get("/").text


@pytest.mark.parametrize("lang,present", [
    ("ca", ["Adjunta fitxers", "Còpia a (CC)", "Fins a 15 MB per fitxer", "Assumpte", "La meva signatura de correu"]),
    ("es", ["Adjuntar archivos", "Copia a (CC)", "Hasta 15 MB por archivo", "Asunto", "Mi firma de correo"]),
])
def test_the_reply_box_files_subject_and_copies_read_in_the_agents_language(
    client: TestClient[Litestar], settings: Settings, lang: str, present: list[str],
) -> None:
    ticket = citizen_writes(settings, "email", "Bon dia")
    login(client, "agent@example.org")
    form(client, "/language", lang=lang)
    page = client.get(f"/tickets/{ticket}").text
    for text in present:
        assert text in page, text
    for english in ("Attach files", "Copy to (CC)", "Up to 15 MB", "You can also drop files", "is larger than",
                    "this type of file", "My email signature"):
        assert english not in page, english
    signature = client.get("/account/signature").text
    assert ("Desa la signatura" if lang == "ca" else "Guardar la firma") in signature
