"""`hub check`: verify the configuration and reach every configured service.

One line per check: `ok`, `skip` (not configured) or `FAIL` with what is wrong and how to fix
it. The exit status is non-zero when any check failed, so it can gate a deployment. Each probe
has a short timeout: a firewall that drops packets shows up as a failure, not a hang.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hub.config import ConfigError, Settings, load_settings

TIMEOUT_S = 5.0


@dataclass
class Result:
    name: str
    status: str  # "ok", "skip", "FAIL"
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.name}: {self.detail}"


class Failed(Exception):
    """A check failed; the message says what is wrong and how to fix it."""


def _redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"no answer within {TIMEOUT_S:.0f} s"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# The checks ----------------------------------------------------------------------------------

async def check_database(settings: Settings) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from hub.db.migrate import current_heads

    url = settings.effective_database_url
    engine = create_async_engine(url)
    try:
        try:
            async with engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), TIMEOUT_S)
                try:
                    rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
                except Exception:
                    rows = []
        except Exception as exc:
            raise Failed(f"{_redact(url)} unreachable ({_why(exc)}): is the server running? check HUB_DATABASE_URL") from None
    finally:
        await engine.dispose()
    heads = set(current_heads(url))
    if not rows:
        raise Failed("reachable, but the schema is not installed: run `hub migrate`")
    if set(rows) != heads:
        raise Failed(f"reachable, schema at {', '.join(sorted(rows))} but the code expects "
                     f"{', '.join(sorted(heads))}: run `hub migrate`")
    return f"reachable, schema at head ({', '.join(sorted(heads))})"


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        client.ping()
    finally:
        client.close()


def _amqp_connect(url: str) -> None:
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = TIMEOUT_S
    params.blocked_connection_timeout = TIMEOUT_S
    params.connection_attempts = 1
    pika.BlockingConnection(params).close()


async def check_broker(settings: Settings) -> str:
    url = settings.broker_url
    if not url or url.startswith("stub://"):
        return "in-process (fine for `hub run`; `hub worker` needs HUB_BROKER_URL=redis://... or amqp://...)"
    try:
        if url.startswith(("redis://", "rediss://")):
            await asyncio.wait_for(asyncio.to_thread(_redis_ping, url), TIMEOUT_S + 1)
        else:
            await asyncio.wait_for(asyncio.to_thread(_amqp_connect, url), TIMEOUT_S + 1)
    except Exception as exc:
        kind = "Redis" if url.startswith("redis") else "RabbitMQ"
        raise Failed(f"{_redact(url)} unreachable ({_why(exc)}): is {kind} running? check HUB_BROKER_URL") from None
    return f"{_redact(url)} reachable"


async def check_redis(settings: Settings) -> str | None:
    url = settings.redis_url
    if not url:
        return None
    try:
        await asyncio.wait_for(asyncio.to_thread(_redis_ping, url), TIMEOUT_S + 1)
    except Exception as exc:
        raise Failed(f"{_redact(url)} unreachable ({_why(exc)}): is Redis running? check HUB_REDIS_URL") from None
    return f"{_redact(url)} reachable (sessions and live updates)"


async def check_imap(hub_settings: Settings) -> str | None:
    from channels.email.config import load_mail_settings

    settings = load_mail_settings()  # the mail channel's (HUB_IMAP_*), checked at start
    if not settings.imap_host:
        return None
    import aioimaplib

    where = f"{settings.imap_host}:{settings.imap_port}"
    cls = aioimaplib.IMAP4_SSL if settings.imap_ssl else aioimaplib.IMAP4
    client = cls(host=settings.imap_host, port=settings.imap_port, timeout=TIMEOUT_S)
    try:
        try:
            await asyncio.wait_for(client.wait_hello_from_server(), TIMEOUT_S)
        except Exception as exc:
            hint = " (HUB_IMAP_SSL=true needs the implicit-TLS port, usually 993)" if settings.imap_ssl else ""
            raise Failed(f"{where} unreachable ({_why(exc)}): check HUB_IMAP_HOST and HUB_IMAP_PORT{hint}") from None
        try:
            response = await asyncio.wait_for(client.login(settings.imap_user, settings.imap_password), TIMEOUT_S)
        except Exception as exc:
            raise Failed(f"{where}: login failed ({_why(exc)})") from None
        if response.result != "OK":
            said = b" ".join(line for line in response.lines if isinstance(line, bytes)).decode(errors="replace")
            raise Failed(f"{where}: login as {settings.imap_user!r} refused ({said.strip()}): "
                         "check HUB_IMAP_USER and HUB_IMAP_PASSWORD")
        folder = settings.imap_folder
        selected = await asyncio.wait_for(client.select(folder), TIMEOUT_S)
        if selected.result != "OK":
            raise Failed(f"{where}: logged in, but folder {folder!r} cannot be opened: check HUB_IMAP_FOLDER")
        return f"{where} login as {settings.imap_user!r} ok, folder {folder!r} opened"
    finally:
        try:
            await asyncio.wait_for(client.logout(), 2)
        except Exception:
            pass


async def check_smtp(hub_settings: Settings) -> str | None:
    from channels.email.config import load_mail_settings

    settings = load_mail_settings()  # the mail channel's (HUB_SMTP_*), checked at start
    if not settings.smtp_host:
        return None
    import aiosmtplib

    where = f"{settings.smtp_host}:{settings.smtp_port}"
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host, port=settings.smtp_port, timeout=TIMEOUT_S,
        use_tls=settings.smtp_tls == "ssl", start_tls=settings.smtp_tls == "starttls",
    )
    try:
        await client.connect()
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as exc:
        raise Failed(f"{where} unreachable ({_why(exc)}): check HUB_SMTP_HOST and HUB_SMTP_PORT") from None
    except aiosmtplib.SMTPException as exc:
        raise Failed(f"{where}: {_why(exc)}: check HUB_SMTP_HOST, HUB_SMTP_PORT and HUB_SMTP_TLS "
                     f"(now {settings.smtp_tls})") from None
    except Exception as exc:
        raise Failed(f"{where} unreachable ({_why(exc)}): check HUB_SMTP_HOST and HUB_SMTP_PORT") from None
    try:
        await client.ehlo()
        if settings.smtp_user:
            try:
                await client.login(settings.smtp_user, settings.smtp_password)
            except aiosmtplib.SMTPException as exc:
                raise Failed(f"{where}: login as {settings.smtp_user!r} refused ({_why(exc)}): "
                             "check HUB_SMTP_USER and HUB_SMTP_PASSWORD") from None
            return f"{where} connected, login as {settings.smtp_user!r} ok"
        return f"{where} connected (no login configured)"
    finally:
        try:
            await client.quit()
        except Exception:
            client.close()


async def check_twilio(hub_settings: Settings) -> str | None:
    from channels.whatsapp.config import load_whatsapp_settings

    settings = load_whatsapp_settings()  # the WhatsApp channel's (HUB_TWILIO_*), checked at start
    if not (settings.twilio_account_sid or settings.twilio_auth_token):
        return None
    if not settings.twilio_configured:
        raise Failed("set both HUB_TWILIO_ACCOUNT_SID and HUB_TWILIO_AUTH_TOKEN (or neither, for sandbox mode)")
    if not (settings.twilio_whatsapp_from or settings.twilio_messaging_service_sid):
        raise Failed("set HUB_TWILIO_WHATSAPP_FROM (whatsapp:+34...) or HUB_TWILIO_MESSAGING_SERVICE_SID")
    import httpx

    sid = settings.twilio_account_sid
    url = f"{settings.twilio_api_url.rstrip('/')}/2010-04-01/Accounts/{sid}.json"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            response = await client.get(url, auth=(sid, settings.twilio_auth_token))
    except Exception as exc:
        raise Failed(f"{settings.twilio_api_url} unreachable ({_why(exc)}): check HUB_TWILIO_API_URL "
                     "and outbound HTTPS from this host") from None
    if response.status_code in (401, 403):
        raise Failed(f"credentials refused ({response.status_code}): check HUB_TWILIO_ACCOUNT_SID "
                     "and HUB_TWILIO_AUTH_TOKEN")
    if response.status_code != 200:
        raise Failed(f"unexpected answer {response.status_code} from {url}")
    status = response.json().get("status", "unknown")
    if status != "active":
        raise Failed(f"account {sid} is {status}, not active")
    return f"account {sid} active"


CHECKS: list[tuple[str, Callable[[Settings], Awaitable[str | None]], str]] = [
    ("database", check_database, ""),
    ("broker", check_broker, ""),
    ("redis", check_redis, "HUB_REDIS_URL is not set (fine for a single `hub web`)"),
    ("IMAP", check_imap, "HUB_IMAP_HOST is not set"),
    ("SMTP", check_smtp, "HUB_SMTP_HOST is not set"),
    ("Twilio", check_twilio, "no credentials: WhatsApp runs in sandbox mode"),
]


async def run_checks(settings: Settings) -> list[Result]:
    async def one(name: str, check: Callable[[Settings], Awaitable[str | None]], skipped: str) -> Result:
        try:
            detail = await check(settings)
        except Failed as exc:
            return Result(name, "FAIL", str(exc))
        except Exception as exc:  # a bug in a probe must still produce a line, not a traceback
            return Result(name, "FAIL", f"check crashed: {_why(exc)}")
        return Result(name, "skip", skipped) if detail is None else Result(name, "ok", detail)

    return list(await asyncio.gather(*(one(*c) for c in CHECKS)))


def _channels() -> tuple[Any, ...]:
    from entrypoints.bootstrap import CHANNELS

    return CHANNELS


def cmd_check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    settings = None
    try:
        settings = load_settings()
    except ConfigError as exc:
        problems += [line.strip() for line in str(exc).splitlines()[1:]] or [str(exc)]
    for channel in _channels():  # each channel's own variables (HUB_TWILIO_*, HUB_IMAP_FOLDER, ...)
        try:
            channel.settings()
        except ConfigError as exc:
            problems += [line.strip() for line in str(exc).splitlines()[1:]] or [str(exc)]
    if problems or settings is None:
        print(Result("configuration", "FAIL", "; ".join(problems)).line())
        return 1
    print(Result("configuration", "ok", "every HUB_* variable parsed").line(), flush=True)
    results = asyncio.run(run_checks(settings))
    for result in results:
        print(result.line(), flush=True)
    failed = [r.name for r in results if r.status == "FAIL"]
    if failed:
        print(f"hub check: {len(failed)} problem(s): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="verify the configuration and reach every configured service")
    p.set_defaults(func=cmd_check)
