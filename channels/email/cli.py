"""`hub mailbox`: the mailbox poller as its own process (production).

Only one poller per mailbox is active at a time (a lock), so starting two is safe: the
second waits and takes over when the first stops. Stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def cmd_mailbox(args: argparse.Namespace) -> int:
    from channels import load_adapters
    from channels.email.config import load_mail_settings
    from channels.email.poller import MailboxPoller
    from hub.config import ConfigError
    from runtime import state
    from runtime.broker import setup_broker
    from runtime.cli import _settings
    from runtime.wiring import wire

    settings = _settings()
    try:
        mail = load_mail_settings()
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    if not settings.imap_configured:
        print("hub mailbox: set HUB_IMAP_HOST and HUB_IMAP_USER (and HUB_IMAP_PASSWORD)", file=sys.stderr)
        return 2
    state.configure(settings)
    state.on_new_context(wire)
    from runtime.live import publish_from_background

    publish_from_background(settings.redis_url)  # new tickets reach the web instances' browsers
    setup_broker(settings)
    load_adapters(settings)

    async def main() -> None:
        ctx = state.context()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        poller = MailboxPoller(ctx, mail)
        print(f"hub mailbox polling {poller.mailbox}", flush=True)
        try:
            await poller.run(stop)
        finally:
            await ctx.close()

    asyncio.run(main())
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("mailbox", help="the mailbox poller (IMAP -> tickets; one active per mailbox)")
    p.set_defaults(func=cmd_mailbox)
