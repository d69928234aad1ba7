"""`hub check` against real services: PostgreSQL, Redis, Dovecot, an aiosmtpd server with AUTH,
the fake Twilio; and against stopped ports, wrong passwords and an unmigrated database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import databases, fake_twilio, mailservers, services

# Real processes on PostgreSQL and Redis whatever HUB_TEST_DATABASE says: run them once, in the
# PostgreSQL run (CI's second run; locally HUB_TEST_DATABASE=postgres).
pytestmark = [pytest.mark.postgres, pytest.mark.skipif(
    databases.backend() != "postgres", reason="runs in the PostgreSQL run (HUB_TEST_DATABASE=postgres)")]

ROOT = Path(__file__).resolve().parents[3]
SMTP_USER, SMTP_PASSWORD = "hub", "smtp-secret"


def hub_check(cwd: Path, **env: str) -> tuple[int, dict[str, str], str]:
    """Run `hub check`; return its exit status, {check name: its line} and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "FORWARDED_"))}
    clean.update(PYTHONPATH=str(ROOT), HUB_DATA_DIR=str(cwd / "var"), **env)
    result = subprocess.run([sys.executable, "-m", "entrypoints.cli", "check"], cwd=cwd, env=clean,
                            capture_output=True, text=True, timeout=60)
    lines = {}
    for line in result.stdout.splitlines():
        name = line[6:].split(":", 1)[0]
        lines[name] = line
    return result.returncode, lines, result.stderr


@pytest.fixture(scope="module")
def postgres_url() -> str:
    return databases.postgres_database(services.require_postgres(), purpose="deploy_check")


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    base = services.require_postgres()
    name = f"hub_test_empty_{uuid.uuid4().hex[:8]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    asyncio.run(databases._exec_autocommit(admin, f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(databases._exec_autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def dovecot() -> Iterator[mailservers.Dovecot]:
    services.require_dovecot()
    with mailservers.dovecot() as server:
        yield server


@pytest.fixture(scope="module")
def smtp_port() -> Iterator[int]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server: object, session: object, envelope: object, mechanism: str, auth_data: object) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(), SMTP_PASSWORD.encode())
        return AuthResult(success=ok, handled=False)  # handled=False, or a refused client hangs

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    port = services.free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture(scope="module")
def twilio() -> Iterator[fake_twilio.FakeTwilio]:
    fake = fake_twilio.FakeTwilio().start()
    yield fake
    fake.stop()


def _all_services(postgres_url: str, dovecot: mailservers.Dovecot, smtp_port: int,
                  twilio: fake_twilio.FakeTwilio) -> dict[str, str]:
    redis = services.require_redis()
    return dict(
        HUB_DATABASE_URL=postgres_url, HUB_BROKER_URL=redis.rsplit("/", 1)[0] + "/14",
        HUB_REDIS_URL=redis.rsplit("/", 1)[0] + "/15",
        HUB_IMAP_HOST=dovecot.host, HUB_IMAP_PORT=str(dovecot.port), HUB_IMAP_USER=dovecot.user,
        HUB_IMAP_PASSWORD=dovecot.password, HUB_IMAP_SSL="false",
        HUB_SMTP_HOST="127.0.0.1", HUB_SMTP_PORT=str(smtp_port), HUB_SMTP_TLS="none",
        HUB_SMTP_USER=SMTP_USER, HUB_SMTP_PASSWORD=SMTP_PASSWORD,
        HUB_TWILIO_ACCOUNT_SID=twilio.account_sid, HUB_TWILIO_AUTH_TOKEN=twilio.auth_token,
        HUB_TWILIO_WHATSAPP_FROM=fake_twilio.WHATSAPP_FROM, HUB_TWILIO_API_URL=twilio.url,
    )


def test_every_configured_service_reached_is_ok(tmp_path: Path, postgres_url: str, dovecot: mailservers.Dovecot,
                                                smtp_port: int, twilio: fake_twilio.FakeTwilio) -> None:
    code, lines, stderr = hub_check(tmp_path, **_all_services(postgres_url, dovecot, smtp_port, twilio))
    assert code == 0, (lines, stderr)
    assert set(lines) == {"configuration", "database", "broker", "redis", "IMAP", "SMTP", "Twilio"}
    assert all(line.startswith("ok ") for line in lines.values()), lines
    assert "schema at head" in lines["database"]
    assert "folder 'INBOX' opened" in lines["IMAP"]
    assert f"login as {SMTP_USER!r} ok" in lines["SMTP"]
    assert any(r.path.endswith(f"/Accounts/{twilio.account_sid}.json") for r in twilio.requests)


def test_stopped_services_and_wrong_passwords_each_get_a_line_saying_what_to_fix(
        tmp_path: Path, postgres_url: str, dovecot: mailservers.Dovecot, smtp_port: int,
        twilio: fake_twilio.FakeTwilio) -> None:
    closed = str(services.free_port())  # nothing listens there
    env = _all_services(postgres_url, dovecot, smtp_port, twilio)
    env.update(HUB_BROKER_URL=f"redis://127.0.0.1:{closed}/1", HUB_REDIS_URL=f"redis://127.0.0.1:{closed}/0",
               HUB_IMAP_PASSWORD="wrong", HUB_SMTP_PASSWORD="wrong", HUB_TWILIO_AUTH_TOKEN="wrong-token")
    code, lines, stderr = hub_check(tmp_path, **env)
    assert code == 1
    assert lines["database"].startswith("ok ")
    assert lines["broker"].startswith("FAIL") and "HUB_BROKER_URL" in lines["broker"] and closed in lines["broker"]
    assert lines["redis"].startswith("FAIL") and "HUB_REDIS_URL" in lines["redis"]
    assert lines["IMAP"].startswith("FAIL") and "HUB_IMAP_PASSWORD" in lines["IMAP"]
    assert lines["SMTP"].startswith("FAIL") and "HUB_SMTP_PASSWORD" in lines["SMTP"]
    assert lines["Twilio"].startswith("FAIL") and "HUB_TWILIO_AUTH_TOKEN" in lines["Twilio"]
    assert "5 problem(s)" in stderr
    assert "wrong" not in "".join(lines.values())  # passwords are never printed


def test_a_missing_imap_folder_is_named(tmp_path: Path, dovecot: mailservers.Dovecot) -> None:
    code, lines, _ = hub_check(tmp_path, HUB_IMAP_HOST=dovecot.host, HUB_IMAP_PORT=str(dovecot.port),
                               HUB_IMAP_USER=dovecot.user, HUB_IMAP_PASSWORD=dovecot.password, HUB_IMAP_SSL="false",
                               HUB_IMAP_FOLDER="Consultes")
    assert code == 1
    assert lines["IMAP"].startswith("FAIL") and "'Consultes'" in lines["IMAP"] and "HUB_IMAP_FOLDER" in lines["IMAP"]


def test_stopped_database_and_mail_ports_fail(tmp_path: Path) -> None:
    closed = str(services.free_port())
    code, lines, _ = hub_check(
        tmp_path, HUB_DATABASE_URL=f"postgresql+asyncpg://hub:secret@127.0.0.1:{closed}/hub",
        HUB_IMAP_HOST="127.0.0.1", HUB_IMAP_PORT=closed, HUB_IMAP_USER="x", HUB_IMAP_SSL="false",
        HUB_SMTP_HOST="127.0.0.1", HUB_SMTP_PORT=closed, HUB_SMTP_TLS="none",
    )
    assert code == 1
    assert lines["database"].startswith("FAIL") and "HUB_DATABASE_URL" in lines["database"]
    assert "secret" not in lines["database"] and "***" in lines["database"]
    assert lines["IMAP"].startswith("FAIL") and "unreachable" in lines["IMAP"]
    assert lines["SMTP"].startswith("FAIL") and "unreachable" in lines["SMTP"]
    assert lines["broker"].startswith("ok ")  # in-process: fine, with a hint for `hub worker`
    assert lines["Twilio"].startswith("skip") and "sandbox" in lines["Twilio"]


def test_an_unmigrated_database_says_run_hub_migrate(tmp_path: Path, empty_postgres_url: str) -> None:
    code, lines, _ = hub_check(tmp_path, HUB_DATABASE_URL=empty_postgres_url)
    assert code == 1
    assert lines["database"].startswith("FAIL") and "hub migrate" in lines["database"]


def test_a_bad_setting_fails_the_configuration_check(tmp_path: Path) -> None:
    code, lines, _ = hub_check(tmp_path, HUB_WHATSAPP_REMINDER_AFTER="soon")
    assert code == 1
    assert lines["configuration"].startswith("FAIL") and "HUB_WHATSAPP_REMINDER_AFTER" in lines["configuration"]


def test_a_bad_channel_setting_fails_the_configuration_check_naming_it(tmp_path: Path) -> None:
    # The WhatsApp and mail channels read their own variables (channels/*/config.py): checked too.
    code, lines, _ = hub_check(tmp_path, HUB_TWILIO_TEMPLATE_SURVEY="survey", HUB_IMAP_PROCESSED="delete")
    assert code == 1 and lines["configuration"].startswith("FAIL")
    assert "HUB_TWILIO_TEMPLATE_SURVEY" in lines["configuration"] and "HUB_IMAP_PROCESSED" in lines["configuration"]
