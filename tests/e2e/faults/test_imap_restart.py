"""The IMAP server restarted in the middle of a fetch: every mail is imported exactly once.

Dovecot holds a few hundred mails; `hub mailbox` imports them in small batches; Dovecot is
stopped while the import is under way (connections cut mid-batch) and started again on the
same maildir. The poller reconnects with its back-off and carries on from its UID.
(tests/integration/channels/email/test_poller.py covers a server that went away between fetches,
tests/e2e/channels/email/test_mailbox_process.py a `hub mailbox` killed mid-batch.)
"""

from __future__ import annotations

import subprocess
import time
from email.message import EmailMessage

from tests.support.faults import Topology
from tests.support.fault_stack import HubProcess, wait_for
from tests.support import mailservers, services

TOTAL = 600  # imports are fast (batches in one transaction): enough mail to cut mid-way


def _mail(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"citizen{n % 40}@citizen.example", "oac360@paeria.cat"
    msg["Subject"], msg["Message-ID"] = f"Consulta {n}", f"<imap-restart-{n}@citizen.example>"
    msg.set_content(f"Consulta número {n}")
    return msg


def test_an_imap_restart_mid_fetch_loses_and_duplicates_nothing(topology: Topology) -> None:
    services.require_dovecot()
    pg = topology.pg
    with mailservers.dovecot() as server:
        client = server.imap()
        try:
            for n in range(TOTAL):
                server.append(_mail(n), client=client)
        finally:
            client.logout()
        env = {**topology.env, **{
            "HUB_IMAP_HOST": server.host, "HUB_IMAP_PORT": str(server.port), "HUB_IMAP_USER": server.user,
            "HUB_IMAP_PASSWORD": server.password, "HUB_IMAP_SSL": "false", "HUB_IMAP_BATCH": "5",
            "HUB_IMAP_PROCESSED": "seen", "HUB_IMAP_IDLE": "false", "HUB_IMAP_POLL_INTERVAL": "1s",
            "HUB_IMAP_BACKOFF_MAX": "1s", "HUB_IMAP_TIMEOUT": "5s", "HUB_MAIL_AUTO_ACK": "false",
        }}
        mailbox = HubProcess(["mailbox"], env, topology.logs / "mailbox.log")
        restarted: subprocess.Popen[bytes] | None = None
        try:
            count = "SELECT count(*) FROM messages WHERE direction = 'in' AND channel = 'email'"
            wait_for(lambda: pg.scalar(count) >= 20, 60, "the import to be under way", every=0.02)
            assert server.process is not None
            server.process.terminate()  # mid-fetch: the poller's connection is cut
            server.process.wait(15)
            at_restart = pg.scalar(count)
            time.sleep(1.0)
            restarted = subprocess.Popen([mailservers.DOVECOT, "-F", "-c", str(server.root / "dovecot.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert mailservers._greeting(server.port, time.monotonic() + 15)
            wait_for(lambda: pg.scalar(count) >= TOTAL, 90, "every mail after the restart", every=0.3)
            time.sleep(1.5)  # a duplicate would arrive now, if the poller re-imported anything
            assert at_restart < TOTAL, "the restart came too late to test anything"
            assert pg.scalar(count) == TOTAL
            assert pg.scalar("SELECT count(DISTINCT provider_id) FROM messages WHERE direction = 'in'") == TOTAL
            assert pg.scalar("SELECT count(*) FROM tickets") == TOTAL  # each mail a new consultation (no thread)
            wait_for(lambda: all("\\Seen" in f for f in server.flags().values()), 30, "every mail marked seen")
            print(f"\nreconciliation: mails {TOTAL}, imported before the restart {at_restart}, "
                  f"stored once {TOTAL}, tickets {TOTAL}")
        finally:
            mailbox.stop()
            if restarted is not None:
                restarted.terminate()
                restarted.wait(15)
