"""Outbound mail: `hub.delivery.Sender` over SMTP (aiosmtplib).

Each outbox message becomes one mail: our own Message-ID (returned as the provider id, so a
citizen's reply that cites it finds the ticket), In-Reply-To and References from the thread,
the ticket reference in the subject, From: HUB_MAIL_FROM, a text and an HTML part, and the
message's attachments. Automatic messages (acknowledgement, survey) are marked RFC 3834
`Auto-Submitted` so well-behaved auto-responders do not answer them.

The Message-ID is derived from the hub message id and the secret key, so a retry after a
crash mid-send reuses it and the citizen's client shows one mail, not two.

TLS per HUB_SMTP_TLS: `starttls` (required: a server without STARTTLS is an error, never a
silent downgrade), `ssl` (implicit TLS), `none` (plaintext, only when configured so).
Errors: 4xx replies and connection trouble are transient; 5xx replies are permanent, with the
server's words for the agent.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import mimetypes
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo

from channels.email.config import MailSettings
from channels.email.lookup import Thread, thread_of
from hub.config import Settings
from hub.texts import phrase, render
from hub.context import HubContext
from hub.delivery import Delivered, OutboundMessage, PermanentError, TransientError
from hub.storage import FileMissing

log = logging.getLogger(__name__)

_PREFIXES = re.compile(r"^\s*((re|fw|fwd|rv|res|enc|aw|wg|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def clean_subject(subject: str, reference: str) -> str:
    """The subject without reply prefixes or our reference tag (to add them back once)."""
    subject = subject.replace(f"[{reference}]", " ") if reference else subject
    subject = _PREFIXES.sub("", " ".join(subject.split()))
    return " ".join(subject.replace(reference, " ").split()) if reference else subject


def outgoing_subject(thread: Thread, ticket_subject: str, reference: str) -> str:
    base = clean_subject(thread.subject or ticket_subject, reference)
    tagged = f"[{reference}] {base}".strip() if reference else base
    return f"Re: {tagged}" if thread.has_inbound else tagged


def chosen_subject(subject: str, reference: str) -> str:
    """The subject an agent wrote, with the ticket's reference tag (kept once) so the answer finds it."""
    subject = " ".join(subject.replace(f"[{reference}]", " ").split()) if reference else " ".join(subject.split())
    return f"[{reference}] {subject}".strip() if reference else subject


def message_id_for(message_id: int, secret: str, domain: str) -> str:
    if not secret:
        raise ValueError("Message-IDs are signed with the secret key, which is not set")
    tag = hmac.new(secret.encode(), f"msg:{message_id}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"hub.{message_id}.{tag}@{domain}"


def _paragraphs(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def html_body(text: str, signature: str = "", quote_intro: str = "", quote: str = "") -> str:
    inner = _paragraphs(text)
    if signature:
        inner += f'<p class="signature">-- <br>{html.escape(signature.strip()).replace(chr(10), "<br>")}</p>'
    if quote:
        inner += (f"<p>{html.escape(quote_intro)}</p>"
                  '<blockquote type="cite" style="margin:0 0 0 .8ex;border-left:2px solid #999;padding-left:1ex">'
                  f"{_paragraphs(quote)}</blockquote>")
    return f'<!doctype html><html><body style="font-family:sans-serif">{inner}</body></html>'


QUOTE_MAX_CHARS = 4000  # only the citizen's latest mail, cut: quotes of quotes grow without end


def text_body(text: str, signature: str = "", quote_intro: str = "", quote: str = "") -> str:
    out = text.strip()
    if signature:
        out += "\n\n-- \n" + signature.strip()  # RFC 3676's signature separator
    if quote:
        out += "\n\n" + quote_intro + "\n" + "\n".join("> " + line if line else ">" for line in quote.splitlines())
    return out + "\n"


def quote_of(thread: Thread, language: str, timezone: str, contact_name: str) -> tuple[str, str]:
    """The line introducing the quoted mail ("El 3 de desembre de 2026 a les 9:15, Anna va escriure:")
    and the quoted text, or two empty strings."""
    from babel.dates import format_date, format_time

    q = thread.quoted
    if q is None or not q.body.strip():
        return "", ""
    local = q.at.astimezone(ZoneInfo(timezone))
    when = f"{format_date(local.date(), 'long', locale=language)}, {format_time(local.time(), 'H:mm', locale=language)}"
    author = f"{contact_name} <{q.author}>" if contact_name and q.author and "@" in q.author else (contact_name or q.author)
    intro = render(phrase(QUOTE_INTRO, language), date=when, name=author)
    body = q.body.strip()
    if len(body) > QUOTE_MAX_CHARS:
        body = body[:QUOTE_MAX_CHARS].rstrip() + " [...]"
    return intro, body


QUOTE_INTRO = "On {date}, {name} wrote:"


class EmailSender:
    def __init__(self, settings: Settings, mail: MailSettings) -> None:
        self.settings = settings
        self.mail = mail
        name, address = parseaddr(mail.mail_from)
        self.from_address = address or mail.imap_user or "hub@localhost"
        self.from_name = name
        self.domain = self.from_address.rsplit("@", 1)[-1] or "localhost"

    async def deliver(self, message: OutboundMessage, ctx: HubContext) -> Delivered:
        if not self.mail.smtp_configured:
            raise PermanentError("no SMTP server is configured (HUB_SMTP_HOST)")
        thread = await thread_of(ctx, message.ticket_id, exclude_message_id=message.message_id)
        to = thread.to or next(iter(message.identities.get("email", [])), "")
        if not to:
            raise PermanentError("the contact has no email address")
        files = {}
        for att in message.attachments:
            key = str(att.get("storage_key") or "")
            if key and key not in files:
                try:
                    files[key] = await ctx.files.read(key)
                except (FileMissing, ValueError):
                    raise PermanentError(f"attachment {att.get('filename') or key} is missing from storage") from None
        mail, msgid = self.build(message, thread, to, ctx.clock.now(), files)
        await self._send(mail)
        return Delivered(provider_id=msgid, status="sent", meta={
            "message_id": msgid, "from": self.from_address, "to": [to], "subject": str(mail["Subject"]),
            **({"cc": [a.strip() for a in str(mail["Cc"]).split(",")]} if mail["Cc"] else {}),
        })

    def build(self, message: OutboundMessage, thread: Thread, to: str, now: datetime,
              files: dict[str, bytes] | None = None) -> tuple[EmailMessage, str]:
        """The mail for `message`, dated `now`; `files` holds its attachments' bytes by storage key."""
        msgid = message_id_for(message.message_id, self.settings.secret_key, self.domain)
        mail = EmailMessage()
        mail["From"] = Address(self.from_name, addr_spec=self.from_address) if self.from_name else self.from_address
        mail["To"] = to
        chosen = str(message.meta.get("subject") or "") if message.kind != "auto" else ""
        mail["Subject"] = (chosen_subject(chosen, message.ticket_reference) if chosen
                           else outgoing_subject(thread, message.subject, message.ticket_reference))
        cc = [a for a in message.meta.get("cc") or [] if isinstance(a, str) and a.lower() != to.lower()]
        if cc:
            mail["Cc"] = ", ".join(cc)
        mail["Date"] = format_datetime(now)
        mail["Message-ID"] = f"<{msgid}>"
        if thread.in_reply_to:
            mail["In-Reply-To"] = f"<{thread.in_reply_to}>"
        if thread.references:
            mail["References"] = " ".join(f"<{r}>" for r in thread.references)
        if message.ticket_reference:
            mail["X-Hub-Reference"] = message.ticket_reference
        if message.kind == "auto":
            # RFC 3834: an acknowledgement answers the citizen's mail; other automatic texts
            # (survey invitation) are generated. Either way, auto-responders must stay quiet.
            replied = message.meta.get("text_key") == "email.ack"
            mail["Auto-Submitted"] = "auto-replied" if replied else "auto-generated"
            mail["X-Auto-Response-Suppress"] = "All"
            mail["X-Loop"] = self.from_address
        signature = str(message.meta.get("signature") or "") if message.kind != "auto" else ""
        intro, quote = (quote_of(thread, message.language or "ca", self.settings.timezone, message.contact_name)
                        if message.kind != "auto" else ("", ""))
        mail.set_content(text_body(message.body, signature, intro, quote))
        mail.add_alternative(html_body(message.body, signature, intro, quote), subtype="html")
        if message.language:  # after the body: set_content() clears Content-* headers
            mail["Content-Language"] = message.language
        for att in message.attachments:
            self._attach(mail, att, files or {})
        return mail, msgid

    def _attach(self, mail: EmailMessage, att: dict, files: dict[str, bytes]) -> None:  # type: ignore[type-arg]
        key = str(att.get("storage_key") or "")
        if not key:
            return
        if key not in files:
            raise PermanentError(f"attachment {att.get('filename') or key} is missing from storage")
        ctype = att.get("content_type") or mimetypes.guess_type(att.get("filename") or "")[0] or "application/octet-stream"
        maintype, _, subtype = ctype.partition("/")
        mail.add_attachment(files[key], maintype=maintype or "application", subtype=subtype or "octet-stream",
                            filename=att.get("filename") or "attachment")

    async def send(self, mail: EmailMessage) -> None:
        """Send a mail built elsewhere (e.g. the managers' weekly summary) with the hub's SMTP
        settings, under the same TLS and error rules as replies."""
        if not self.mail.smtp_configured:
            raise PermanentError("no SMTP server is configured (HUB_SMTP_HOST)")
        await self._send(mail)

    async def _send(self, mail: EmailMessage) -> None:
        import aiosmtplib  # here: only the processes that send mail load it (web workers do not)

        s = self.mail
        tls = s.smtp_tls
        try:
            await aiosmtplib.send(
                mail, hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_user or None, password=s.smtp_password or None,
                use_tls=tls == "ssl", start_tls=True if tls == "starttls" else False,
                timeout=s.smtp_timeout.total_seconds(),
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            detail = "; ".join(f"{e.recipient}: {e.code} {e.message}" for e in exc.recipients)
            if codes and all(c >= 500 for c in codes):
                raise PermanentError(f"the mail server refused the address: {detail}", code=str(codes[0])) from exc
            raise TransientError(f"recipient deferred: {detail}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentError(f"the mail server refused the mail: {exc.code} {exc.message}",
                                     code=str(exc.code)) from exc
            raise TransientError(f"the mail server said {exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # e.g. STARTTLS required but not offered: refuse rather than send in plaintext
            raise TransientError(f"the mail server does not support what is configured: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientError(f"could not reach the mail server: {type(exc).__name__}: {exc}") from exc
