"""The email channel: the office mailbox in over IMAP, answers out over SMTP.

- `parse.py`    raw mail -> ParsedMail (pure: charsets, MIME, HTML sanitising, quotes)
- `parser_process.py`  the helper process the poller parses in (imports `parse.py` only)
- `filters.py`  the ordered filter chain: duplicate, size, auto-response, follow-up, ack
- `pipeline.py` parse + filters -> `hub.actions` (tickets, acknowledgement, bounces)
- `poller.py`   the IMAP poller (aioimaplib): UID resume, IDLE, backoff, one per mailbox
- `sender.py`   the outbound Sender (aiosmtplib): threading headers, our Message-ID
- `lookup.py`   read-only threading queries; `state.py` mailbox position, health, metrics
- `cli.py`      `hub mailbox` (a `Command` run by the entry point)
- `config.py`   the channel's settings (HUB_IMAP_*, HUB_SMTP_*, HUB_MAIL_*)

Configuration is documented in README.md next to this file.

`CHANNEL` is built when first asked for (`__getattr__`), not when the package is imported:
the parser process imports `channels.email.parse`, and with it this package, and must not
import the hub for that (it would take it a second to start instead of a tenth).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from channels.base import Channel, Probe, Service
    from channels.email.config import MailSettings
    from hub.config import Settings
    from hub.context import HubContext
    from hub.delivery import Sender


def _sender(settings: Settings, mail: MailSettings) -> Sender:
    from channels.email.sender import EmailSender

    return EmailSender(settings, mail)  # type: ignore[return-value]


def _services(settings: Settings, mail: MailSettings) -> list[Service]:
    if not mail.imap_configured:
        return []

    async def mailbox_service(ctx: HubContext, stop: asyncio.Event) -> None:
        from channels.email.poller import MailboxPoller

        await MailboxPoller(ctx, mail).run(stop)

    return [mailbox_service]


def _probes(settings: Settings, mail: MailSettings) -> dict[str, Probe]:
    from channels.email.state import STATUS

    return {"mailbox": STATUS.probe} if mail.imap_configured else {}


def _channel() -> Channel:
    from channels.base import Channel
    from channels.email.cli import MAILBOX
    from channels.email.config import load_mail_settings

    return Channel(
        name="email", settings=load_mail_settings, sender=_sender, services=_services,
        readiness_probes=_probes, commands=(MAILBOX,),
    )


def __getattr__(name: str) -> Any:
    if name == "CHANNEL":
        global CHANNEL
        CHANNEL = _channel()
        return CHANNEL
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
