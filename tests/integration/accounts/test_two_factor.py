"""Two-factor sign-in (issue 13, finding 7): TOTP enrolled with a QR code, recovery codes,
`HUB_REQUIRE_2FA` making it mandatory for roles, and API tokens needing the code too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.clock import FakeClock
from tests.support.accounts import another_browser
from tests.support.agent_ui import PASSWORD, Logins, csrf, login
from tests.support.cookies import csrf_token


@pytest.fixture
def required(tmp_path: Path, db_url: str, logins: Logins) -> Iterator[tuple[TestClient[Litestar], FakeClock]]:
    """The app as deployed by default: admins must use two-factor sign-in; a clock the test moves."""
    from entrypoints.web import create_app
    from tests.conftest import make_settings

    clock = FakeClock()
    app = create_app(make_settings(tmp_path, db_url, require_2fa="admin"), clock=clock)
    with TestClient(app, base_url="https://testserver.local") as client:
        yield client, clock


def _form(client: TestClient[Any], url: str, **data: str) -> Any:
    return client.post(url, data={**data, "_csrf_token": csrf_token(client)}, follow_redirects=False)


def _enrol(client: TestClient[Any], clock: FakeClock) -> tuple[str, list[str]]:
    """Enrol the logged-in agent; returns the secret and the recovery codes."""
    page = client.get("/account/two-factor").text
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn by the hub
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    done = _form(client, "/account/two-factor", code=pyotp.TOTP(secret).at(clock.now()))
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10
    return secret, codes


def test_an_admin_without_two_factor_is_led_to_enrol_and_can_do_nothing_else(
        required: tuple[TestClient[Any], FakeClock]) -> None:
    client, clock = required
    signed = login(client, "admin@example.org")
    assert signed.status_code == 303 and signed.headers["location"] == "/account/two-factor"
    page = client.get("/settings", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.headers["location"] == "/account/two-factor"
    assert client.get("/api/v1/audit", headers=csrf(client)).status_code == 403
    _enrol(client, clock)
    assert client.get("/api/v1/audit").status_code == 200


def test_sign_in_asks_for_the_code_after_the_password(required: tuple[TestClient[Any], FakeClock]) -> None:
    client, clock = required
    login(client, "admin@example.org")
    secret, _ = _enrol(client, clock)
    client.post("/logout", headers=csrf(client))
    clock.advance(seconds=60)
    step1 = login(client, "admin@example.org")
    assert step1.headers["location"] == "/login/two-factor"
    assert client.get("/api/v1/agents/me").status_code == 401  # the password alone opens nothing
    assert _form(client, "/login/two-factor", code="000000").status_code == 400
    good = _form(client, "/login/two-factor", code=pyotp.TOTP(secret).at(clock.now()))
    assert good.status_code == 303
    assert client.get("/api/v1/agents/me").json()["email"] == "admin@example.org"


def test_a_code_works_once(required: tuple[TestClient[Any], FakeClock]) -> None:
    client, clock = required
    login(client, "admin@example.org")
    secret, _ = _enrol(client, clock)
    clock.advance(seconds=60)
    code = pyotp.TOTP(secret).at(clock.now())
    other = another_browser(client)
    with other:
        login(other, "admin@example.org")
        assert _form(other, "/login/two-factor", code=code).status_code == 303
    third = another_browser(client)
    with third:
        login(third, "admin@example.org")
        assert _form(third, "/login/two-factor", code=code).status_code == 400  # replayed


def test_recovery_codes_work_once_each(required: tuple[TestClient[Any], FakeClock]) -> None:
    client, clock = required
    login(client, "admin@example.org")
    _, codes = _enrol(client, clock)
    client.post("/logout", headers=csrf(client))
    login(client, "admin@example.org")
    assert _form(client, "/login/two-factor", code=codes[0].upper()).status_code == 303
    client.post("/logout", headers=csrf(client))
    login(client, "admin@example.org")
    assert _form(client, "/login/two-factor", code=codes[0]).status_code == 400


def test_five_wrong_codes_end_the_pending_sign_in(required: tuple[TestClient[Any], FakeClock]) -> None:
    client, clock = required
    login(client, "admin@example.org")
    secret, _ = _enrol(client, clock)
    client.post("/logout", headers=csrf(client))
    login(client, "admin@example.org")
    for _ in range(5):
        _form(client, "/login/two-factor", code="123456")
    late = _form(client, "/login/two-factor", code=pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30)))
    assert late.status_code == 400 and client.get("/api/v1/agents/me").status_code == 401
    # and the wrong codes counted on the throttle: the password from this address is refused now
    assert login(client, "admin@example.org").status_code == 429


def test_api_tokens_need_the_code_too(required: tuple[TestClient[Any], FakeClock]) -> None:
    client, clock = required
    asked = client.post("/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD})
    assert asked.status_code == 403  # not enrolled: no token at all
    login(client, "admin@example.org")
    secret, codes = _enrol(client, clock)
    clock.advance(seconds=60)
    bare = client.post("/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD})
    assert bare.status_code == 401
    ok = client.post("/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD,
                                                 "otp": pyotp.TOTP(secret).at(clock.now())})
    assert ok.status_code == 201
    by_recovery = client.post("/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD,
                                                          "otp": codes[3]})
    assert by_recovery.status_code == 201
    # agents (not required) get tokens with the password alone
    assert client.post("/api/v1/auth/token", json={"email": "agent@example.org", "password": PASSWORD}).status_code == 201


def test_an_admin_resets_a_colleagues_lost_phone(required: tuple[TestClient[Any], FakeClock], logins: Logins) -> None:
    client, clock = required
    login(client, "manager@example.org")
    _enrol(client, clock)
    client.post("/logout", headers=csrf(client))
    admin = another_browser(client)
    with admin:
        login(admin, "admin@example.org")
        _enrol(admin, clock)
        assert admin.delete(f"/api/v1/agents/{logins.manager}/two-factor", headers=csrf(admin)).status_code == 204
        assert admin.delete(f"/api/v1/agents/{logins.admin}/two-factor", headers=csrf(admin)).status_code == 409
    assert login(client, "manager@example.org").headers["location"] == "/"  # no code asked any more


def test_require_2fa_accepts_roles_or_none() -> None:
    from hub.config import ConfigError, Settings, load_settings

    assert load_settings(_env_file=None, require_2fa="admin, manager").two_factor_roles == {"admin", "manager"}
    assert load_settings(_env_file=None, require_2fa="none").two_factor_roles == frozenset()
    assert Settings(_env_file=None).two_factor_roles == {"admin"}  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="HUB_REQUIRE_2FA"):
        load_settings(_env_file=None, require_2fa="boss")
