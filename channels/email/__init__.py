"""The email channel: the office mailbox in over IMAP, answers out over SMTP.

- `parse.py`    raw mail -> ParsedMail (pure: charsets, MIME, HTML sanitising, quotes)
- `filters.py`  the ordered filter chain: duplicate, size, auto-response, follow-up, ack
- `pipeline.py` parse + filters -> `hub.actions` (tickets, acknowledgement, bounces)
- `poller.py`   the IMAP poller (aioimaplib): UID resume, IDLE, backoff, one per mailbox
- `sender.py`   the outbound Sender (aiosmtplib): threading headers, our Message-ID
- `lookup.py`   read-only threading queries; `state.py` mailbox position, health, metrics
- `cli.py`      `hub mailbox`

Configuration is documented in README.md next to this file.
"""

from __future__ import annotations

import asyncio

from channels.base import Adapter
from hub.config import Settings


def adapter(settings: Settings) -> Adapter:
    from channels.email.config import load_mail_settings
    from channels.email.sender import EmailSender
    from channels.email.state import STATUS

    mail = load_mail_settings()
    services = []
    if settings.imap_configured:
        async def mailbox_service(stop: asyncio.Event) -> None:
            from channels.email.poller import MailboxPoller
            from runtime import state

            await MailboxPoller(state.context(), mail).run(stop)

        services.append(mailbox_service)
    result = Adapter(name="email", sender=EmailSender(settings, mail), services=services)  # type: ignore[arg-type]
    # For /readyz (the web app adds every adapter's probes to app.state.readiness_probes).
    result.readiness_probes = {"mailbox": STATUS.probe} if settings.imap_configured else {}  # type: ignore[attr-defined]
    return result
