"""Real mail servers for tests and benchmarks: Dovecot (IMAP) and an aiosmtpd SMTP sink.

Dovecot runs in the foreground from a configuration written into a temporary folder (the
working configuration of STACK-NOTES §3.1) on free ports; it is ready when it greets with
`* OK`. The SMTP sink is aiosmtpd's `Controller` (its own thread and loop) collecting what it
receives. Both are plain context managers so `bench/` can use them without pytest.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.support.services import DOVECOT, free_port

USER = "oac360"
PASSWORD = "password"

_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
instance_name = dovecot-hub-test-{port}

protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%n allow_all_users=yes
}}
first_valid_uid = 1
mail_location = maildir:~/Maildir
{extra}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
imap_idle_notify_interval = 1 secs
# No brute-force penalty (tests log in with wrong passwords on purpose).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{anvil}}}
"""

# Without root, Dovecot must run everything as the current user.
_ROOTLESS = """\
default_internal_user = {user}
default_login_user = {user}
default_internal_group = {group}
service imap-login {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    root: Path
    process: subprocess.Popen[bytes] | None = None

    def imap(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes | EmailMessage, mailbox: str = "INBOX", client: imaplib.IMAP4 | None = None) -> int:
        """APPEND one message; returns its UID (Dovecot answers with APPENDUID)."""
        data = raw.as_bytes(policy=policy.SMTP) if isinstance(raw, EmailMessage) else raw
        own = client is None
        c = client or self.imap()
        try:
            typ, resp = c.append(mailbox, None, imaplib.Time2Internaldate(time.time()), data)
            assert typ == "OK", resp
            text = resp[0].decode() if resp and resp[0] else ""
            # "[APPENDUID <uidvalidity> <uid>] Append completed."
            return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]")) if "APPENDUID" in text else 0
        finally:
            if own:
                c.logout()

    def flags(self, mailbox: str = "INBOX") -> dict[int, str]:
        c = self.imap()
        try:
            c.select(mailbox)
            typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
            out: dict[int, str] = {}
            for line in data:
                if not line:
                    continue
                text = line.decode() if isinstance(line, bytes) else str(line)
                uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                out[uid] = text.split("FLAGS (", 1)[1].split(")", 1)[0]
            return out
        finally:
            c.logout()

    def count(self, mailbox: str = "INBOX") -> int:
        c = self.imap()
        try:
            typ, data = c.select(mailbox)
            return int(data[0])
        finally:
            c.logout()

    def create(self, mailbox: str) -> None:
        c = self.imap()
        try:
            c.create(mailbox)
        finally:
            c.logout()

    def settings(self) -> dict[str, Any]:
        """The mail channel's settings (channels/email/config.py) that read this mailbox."""
        return dict(imap_host=self.host, imap_port=self.port, imap_user=self.user,
                    imap_password=self.password, imap_ssl=False)


def _greeting(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(200).startswith(b"* OK"):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


@contextmanager
def dovecot(port: int | None = None) -> Iterator[Dovecot]:
    """A Dovecot IMAP server for one mailbox user, in the foreground, stopped on exit.

    Its folder is made under the system temporary directory and opened to other users:
    Dovecot's auth and mail processes run as other users and must reach it (pytest's own
    temporary folders are private to the user running the tests).
    """
    binary = DOVECOT if os.path.exists(DOVECOT) else (shutil.which("dovecot") or DOVECOT)
    port = port or free_port()
    root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
    root.chmod(0o755)
    mail = root / "mail"
    mail.mkdir(exist_ok=True)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    if os.geteuid() == 0:
        uid = gid = 65534
        os.chown(mail, uid, gid)
        extra = anvil = ""
    else:
        import grp
        import pwd

        uid, gid = os.getuid(), os.getgid()
        extra = _ROOTLESS.format(user=pwd.getpwuid(uid).pw_name, group=grp.getgrgid(gid).gr_name)
        anvil = "  chroot =\n"
    conf = root / "dovecot.conf"
    conf.write_text(_CONF.format(root=root, mail=mail, port=port, uid=uid, gid=gid, extra=extra, anvil=anvil))
    proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not _greeting(port, time.monotonic() + 10):
            proc.terminate()
            _, err = proc.communicate(timeout=5)
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot did not start: {err.decode(errors='replace')} {log[-2000:]}")
        yield Dovecot("127.0.0.1", port, USER, PASSWORD, root, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


# SMTP ----------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    # Answers to give instead of 250, consumed one per message (e.g. "451 try later").
    replies: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)

    def settings(self) -> dict[str, Any]:
        """The mail channel's settings (channels/email/config.py) that send through this sink."""
        return dict(smtp_host=self.host, smtp_port=self.port, smtp_tls="none")


@contextmanager
def smtp_sink(port: int | None = None) -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink("127.0.0.1", port or free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port, data_size_limit=60 * 1024 * 1024)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
