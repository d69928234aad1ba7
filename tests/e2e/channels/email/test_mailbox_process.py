"""`hub mailbox` as a process against a real Dovecot: killed mid-batch and restarted, it imports
each mail once (the in-process poller's tests are in tests/integration/channels/email/test_poller.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hub.context import HubContext
from hub.db.tables import Message, Ticket
from tests.support import mailservers
from tests.support.email_channel import rows, simple


def _hub_mailbox(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "mailbox"], env=env, cwd=Path(__file__).parents[4],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_hub_mailbox_killed_mid_batch_and_restarted_imports_each_mail_once(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    total = 400  # imports are fast (batches in one transaction): enough mail to be killed mid-way
    client = dovecot_server.imap()
    try:
        for n in range(total):
            dovecot_server.append(simple(n), folder, client=client)
    finally:
        client.logout()
    s = imap_ctx.settings
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
        "HUB_DATABASE_URL": s.effective_database_url, "HUB_DATA_DIR": str(s.data_dir),
        "HUB_IMAP_HOST": dovecot_server.host, "HUB_IMAP_PORT": str(dovecot_server.port),
        "HUB_IMAP_USER": dovecot_server.user, "HUB_IMAP_PASSWORD": dovecot_server.password, "HUB_IMAP_SSL": "false", "HUB_IMAP_FOLDER": folder,
        "HUB_IMAP_BATCH": "10", "HUB_IMAP_PROCESSED": "seen", "HUB_IMAP_IDLE": "false",
        "HUB_MAIL_FROM": "oac360@paeria.cat", "HUB_SECRET_KEY": "test-secret-key-0123456789",
    }
    proc = _hub_mailbox(env)
    try:
        deadline = time.monotonic() + 90  # a loaded CI machine starts the process slowly
        while len(await rows(imap_ctx, Ticket)) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        helpers = _children(proc.pid)  # the mail parser process
        proc.send_signal(signal.SIGKILL)  # mid-import: no chance to clean up
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert helpers, "the poller parses in a helper process on this machine"
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in helpers) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in helpers), "the parser outlived a killed poller"
    imported = len(await rows(imap_ctx, Message, Message.direction == "in"))
    assert 20 <= imported < total, proc.stderr.read().decode(errors="replace")[-3000:] if proc.stderr else ""
    # Never flagged before its ticket was committed: every \Seen mail has its ticket.
    seen = sum(1 for f in dovecot_server.flags(folder).values() if "\\Seen" in f)
    assert seen <= imported
    proc = _hub_mailbox(env)
    try:
        deadline = time.monotonic() + 60
        while len(await rows(imap_ctx, Message, Message.direction == "in")) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    inbound = await rows(imap_ctx, Message, Message.direction == "in")
    assert len(inbound) == total and len({m.provider_id for m in inbound}) == total
    assert len(await rows(imap_ctx, Ticket)) == total
    assert all("\\Seen" in f for f in dovecot_server.flags(folder).values())


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
