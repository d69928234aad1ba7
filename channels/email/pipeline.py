"""One raw mail -> parse -> filter chain -> the core. What the poller calls for each message.

`ingest` never raises for anything a mail can contain: unreadable or oversized mail becomes a
quarantined message on a ticket (visible to agents, with the reason and the raw mail kept
under `data_dir/quarantine/`), never a silent drop and never a crash. Errors of the hub
itself (database down) do propagate, so the poller retries instead of skipping the mail.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.email.config import MailSettings, our_addresses
from channels.email.filters import MailPolicy, Verdict, run_chain
from channels.email.lookup import DbLookups
from channels.email.parse import ParsedMail, as_meta, parse_fetched
from hub.actions.messages import do_receive_batch, do_receive_message
from hub.actions.outbox import do_update_message_status
from hub.context import HubContext
from hub.inbound import AttachmentIn, IdentityIn, InboundMessage
from hub.texts import normalise_language

log = logging.getLogger(__name__)
CHANNEL = "email"


@dataclass
class Outcome:
    status: str  # imported | duplicate | quarantined
    provider_id: str
    ticket_id: int | None = None
    new_ticket: bool = False
    reasons: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self, ctx: HubContext, mail: MailSettings) -> None:
        self.ctx = ctx
        self.mail = mail
        ours = our_addresses(mail)
        self.lookups = DbLookups(ctx, ours)
        self.policy = MailPolicy(
            our_addresses=ours, reference_prefix=ctx.settings.reference_prefix,
            max_message_bytes=mail.mail_max_message_bytes, auto_ack=mail.mail_auto_ack,
        )
        self.data_dir = Path(ctx.settings.data_dir)

    def parse(self, raw: bytes, *, size: int | None = None, headers_only: bool = False) -> ParsedMail:
        """Parse one mail. `size`/`headers_only`: the server's size for a mail not downloaded whole."""
        return parse_fetched(raw, size, headers_only, self.limits)

    @property
    def limits(self) -> tuple[int, int]:
        return self.mail.mail_max_attachment_bytes, self.policy.max_message_bytes

    async def ingest(self, raw: bytes, *, size: int | None = None, headers_only: bool = False) -> Outcome:
        """Import one mail: parse, filter, hand it to the core."""
        return await self.ingest_parsed(self.parse(raw, size=size, headers_only=headers_only), raw)

    async def ingest_parsed(self, parsed: ParsedMail, raw: bytes) -> Outcome:
        return (await self.ingest_batch([(parsed, raw)]))[0]

    async def ingest_batch(self, mails: list[tuple[ParsedMail, bytes]]) -> list[Outcome]:
        """Import mails that do not depend on each other (see `poller.conversations`) in one
        transaction. All or nothing: on an error none of them is stored."""
        outcomes: list[Outcome | None] = [None] * len(mails)
        todo: list[tuple[int, ParsedMail, Verdict, InboundMessage]] = []
        for index, (parsed, raw) in enumerate(mails):
            verdict = await run_chain(parsed, self.lookups, self.policy)
            if verdict.duplicate:
                outcomes[index] = Outcome("duplicate", parsed.provider_id, reasons=verdict.reasons)
            else:
                todo.append((index, parsed, verdict, self._inbound(parsed, verdict, raw)))
        files = {k: v for _, parsed, verdict, _ in todo for k, v in self._files(parsed, verdict).items()}
        received = await do_receive_batch(
            self.ctx, [inbound for *_, inbound in todo], ack_per_hour=self.mail.mail_ack_per_hour, files=files,
        )
        for (index, parsed, verdict, _), got in zip(todo, received):
            self.lookups.known.add(parsed.provider_id)
            self.lookups.absent.discard(parsed.provider_id)
            if got.duplicate:
                outcomes[index] = Outcome("duplicate", parsed.provider_id, got.ticket_id, reasons=verdict.reasons)
                continue
            if parsed.report_original_id and parsed.report_action in ("failed", ""):
                # A bounce of a mail we sent: the agent sees the reply did not arrive.
                await do_update_message_status(
                    self.ctx, CHANNEL, parsed.report_original_id, "failed",
                    error_code=parsed.report_status[:20] or None,
                    detail=f"bounced: {parsed.report_status or 'delivery failed'}",
                )
            status = "quarantined" if verdict.quarantine else "imported"
            outcomes[index] = Outcome(status, parsed.provider_id, got.ticket_id, got.new_ticket, verdict.reasons)
        return [o for o in outcomes if o is not None]

    async def quarantine(self, parsed: ParsedMail, raw: bytes, reason: str) -> Outcome:
        """Store a mail the chain could not handle, bypassing the filters (the last resort)."""
        verdict = Verdict(quarantine=reason, reasons=[f"quarantined: {reason}"])
        received = await do_receive_message(self.ctx, self._inbound(parsed, verdict, raw),
                                            files=self._files(parsed, verdict))
        self.lookups.known.add(parsed.provider_id)
        status = "duplicate" if received.duplicate else "quarantined"
        return Outcome(status, parsed.provider_id, received.ticket_id, received.new_ticket, verdict.reasons)

    # Building the core's message ------------------------------------------------------------

    def _inbound(self, parsed: ParsedMail, verdict: Verdict, raw: bytes) -> InboundMessage:
        meta = as_meta(parsed)
        meta["filters"] = verdict.reasons
        if verdict.automatic:
            meta["automatic"] = verdict.automatic
        if verdict.related:
            meta["related_ticket"] = verdict.related
        if verdict.matched_by:
            meta["matched_by"] = verdict.matched_by
        body = parsed.text
        kind = "text"
        attachments: list[AttachmentIn] = []
        if verdict.quarantine:
            kind = "quarantined"
            meta["quarantine"] = verdict.quarantine
            meta["raw_key"] = self._keep_raw(raw)
            meta["size"] = parsed.size
            body = parsed.text[:20_000]
        else:
            attachments = [self._store(part) for part in parsed.parts[:100]]
        identities = [IdentityIn("email", storable(parsed.from_addr))] if parsed.from_addr else []
        return InboundMessage(
            channel=CHANNEL, provider_id=storable(parsed.provider_id), received_at=self.ctx.clock.now(),
            identities=identities, body=storable(body), body_html="" if verdict.quarantine else storable(parsed.html),
            kind=kind, display_hint=storable(parsed.from_name[:200]), subject=storable(parsed.subject[:300]),
            language=normalise_language(parsed.language, "") or None, meta=storable(meta),
            attachments=[storable(a) for a in attachments],
            ticket_id=verdict.ticket_id, automatic=bool(verdict.automatic or verdict.quarantine),
            acknowledge="email.ack" if verdict.acknowledge else None,
        )

    def _store(self, part) -> AttachmentIn:  # type: ignore[no-untyped-def]
        if part.rejected or not part.data:
            return AttachmentIn(
                filename=part.filename, content_type=part.content_type, size=part.size, status="rejected",
                reason=part.rejected or "empty attachment", inline=part.inline,
            )
        return AttachmentIn(
            filename=part.filename, content_type=part.content_type[:200], size=part.size,
            storage_key=part.sha256, sha256=part.sha256, status="stored", inline=part.inline,
        )

    @staticmethod
    def _files(parsed: ParsedMail, verdict: Verdict) -> dict[str, bytes]:
        """The bytes of the attachments `_inbound` records as stored, by checksum: the core keeps
        them (`hub.storage`) in the transaction that records the mail."""
        if verdict.quarantine:
            return {}
        return {part.sha256: part.data for part in parsed.parts[:100] if not part.rejected and part.data}

    def _keep_raw(self, raw: bytes) -> str:
        digest = hashlib.sha256(raw).hexdigest()
        _write_once(self.data_dir / "quarantine" / f"{digest}.eml", raw)
        return f"{digest}.eml"


def storable(value: Any) -> Any:
    """Text every database takes: no NUL (PostgreSQL refuses it in text and JSON) and no lone
    surrogates (left by undecodable header bytes), recursively through meta and attachments."""
    if isinstance(value, str):
        if value.isascii() and "\x00" not in value:
            return value
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, AttachmentIn):
        return AttachmentIn(**{f: storable(getattr(value, f)) for f in value.__struct_fields__})
    return value


def _write_once(path: Path, data: bytes) -> None:
    """Content-addressed: the same bytes are written once, atomically."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
