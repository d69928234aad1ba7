"""`hub mailbox`: the mailbox poller as its own process (production).

Only one poller per mailbox is active at a time (a lock), so starting two is safe: the
second waits and takes over when the first stops. Stops cleanly on SIGTERM/SIGINT. The entry
point (`entrypoints.cli`) starts the process; this module says what it runs.
"""

from __future__ import annotations

import asyncio

from channels.base import Command
from channels.email.config import MailSettings
from hub.config import Settings
from hub.context import HubContext


def _preflight(settings: Settings, mail: MailSettings) -> str | None:
    if not mail.imap_configured:
        return "set HUB_IMAP_HOST and HUB_IMAP_USER (and HUB_IMAP_PASSWORD)"
    return None


async def _run(settings: Settings, mail: MailSettings, ctx: HubContext, stop: asyncio.Event) -> None:
    from channels.email.poller import MailboxPoller

    poller = MailboxPoller(ctx, mail)
    print(f"hub mailbox polling {poller.mailbox}", flush=True)
    await poller.run(stop)


MAILBOX = Command(
    name="mailbox", help="the mailbox poller (IMAP -> tickets; one active per mailbox)",
    preflight=_preflight, run=_run,
)
