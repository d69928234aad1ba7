"""The ordered chain of small filters every incoming mail passes before it reaches the core.

Each filter looks at the parsed mail (and, where it must, at what the hub already stored)
and writes its decision into a `Verdict`. Order matters and is `CHAIN`:

1. `duplicate`    - the Message-ID (or its stable substitute) was already imported: skip.
2. `size_limit`   - too large, or the parser could not read it: quarantine, with the reason.
3. `auto_response`- auto-replies, bounces, lists, no-reply senders: stored, never answered.
4. `follow_up`    - which open ticket a reply belongs to (headers first, then the reference).
5. `acknowledge`  - whether the citizen gets the automatic acknowledgement.

Threading rule (decided here, documented in README.md): a reply continues a ticket only when
it references a Message-ID we received or sent on that ticket (In-Reply-To, References, or a
delivery report about our message), or quotes the ticket reference in the subject, AND the
sender is part of that conversation: the ticket's contact, or an address that was already in
From/To/Cc of the thread. Anyone else replying to the thread (a stranger answering a
forwarded mail or a newsletter) opens a new ticket that mentions the related one. Automatic
mail (bounces, out-of-office) is filed on the thread it refers to, whoever sends it, because
it is never answered. A reply to a resolved ticket opens a new one (the core never reopens).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from channels.email.parse import ParsedMail, human_size


@dataclass(frozen=True)
class MailPolicy:
    """The parts of the configuration the filters need."""

    our_addresses: frozenset[str] = frozenset()
    reference_prefix: str = "OAC"
    max_message_bytes: int = 30 * 1024 * 1024
    auto_ack: bool = True


@dataclass(frozen=True)
class TicketInfo:
    id: int
    reference: str
    open: bool


class Lookups(Protocol):
    """What the filters may ask of the stored data (read only)."""

    async def already_imported(self, provider_id: str) -> bool: ...

    async def tickets_of(self, message_ids: list[str]) -> dict[str, TicketInfo]: ...

    async def ticket_by_reference(self, reference: str) -> TicketInfo | None: ...

    async def participants(self, ticket_id: int) -> set[str]: ...


@dataclass
class Verdict:
    duplicate: bool = False
    quarantine: str | None = None
    automatic: str | None = None  # why this mail is automatic
    ticket_id: int | None = None  # the open ticket this mail continues
    related: str | None = None  # reference of a ticket this mail relates to but does not continue
    matched_by: str | None = None  # in-reply-to | references | report | subject
    acknowledge: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def stop(self) -> bool:
        return self.duplicate


Filter = Callable[[ParsedMail, Verdict, Lookups, MailPolicy], Awaitable[None]]


# 1. duplicates ------------------------------------------------------------------------------


async def duplicate(mail: ParsedMail, verdict: Verdict, lookups: Lookups, policy: MailPolicy) -> None:
    if await lookups.already_imported(mail.provider_id):
        verdict.duplicate = True
        verdict.reasons.append(f"duplicate of {mail.provider_id}")


# 2. size and readability --------------------------------------------------------------------


async def size_limit(mail: ParsedMail, verdict: Verdict, lookups: Lookups, policy: MailPolicy) -> None:
    if mail.size > policy.max_message_bytes:
        verdict.quarantine = (
            f"message too large: {human_size(mail.size)} (limit {human_size(policy.max_message_bytes)})"
        )
    elif mail.quarantine:
        verdict.quarantine = mail.quarantine
    if verdict.quarantine:
        verdict.reasons.append(f"quarantined: {verdict.quarantine}")


# 3. auto-replies, bounces, lists ------------------------------------------------------------

_NO_REPLY = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?|"
    r"auto[-_.]?(?:reply|responder)|notifications?)(?:[-+_.].*)?$",
    re.IGNORECASE,
)


def automatic_reason(mail: ParsedMail, our_addresses: frozenset[str] = frozenset()) -> str | None:
    """Why this mail was sent by a machine (RFC 3834 and the usual conventions), or None."""
    h = mail.headers
    auto_submitted = h.get("auto-submitted", "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    if mail.content_type == "multipart/report" or mail.report_type:
        return f"delivery report ({mail.report_type or 'report'})"
    if h.get("x-failed-recipients"):
        return "bounce (X-Failed-Recipients)"
    if h.get("return-path", "").strip() in ("<>", ""):
        if "return-path" in h:
            return "bounce (null Return-Path)"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    suppress = h.get("x-auto-response-suppress", "").lower()
    if any(word in suppress for word in ("all", "oof", "autoreply")):
        # Exchange and Outlook mark their own automatic replies so; people's mail lacks it.
        return f"X-Auto-Response-Suppress: {h['x-auto-response-suppress']}"
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if h.get(name):
            return f"mailing list ({name})"
    for name in ("x-autoreply", "x-autorespond", "x-autogenerated"):
        if h.get(name):
            return f"{name}: {h[name]}"
    loop = h.get("x-loop", "").lower()
    if loop and (not our_addresses or any(a in loop for a in our_addresses)):
        return "X-Loop"
    if mail.from_addr in our_addresses:
        return "sent by this mailbox"
    local = mail.from_addr.split("@", 1)[0]
    if local and _NO_REPLY.match(local):
        return f"no-reply sender ({mail.from_addr})"
    return None


async def auto_response(mail: ParsedMail, verdict: Verdict, lookups: Lookups, policy: MailPolicy) -> None:
    reason = automatic_reason(mail, policy.our_addresses)
    if reason:
        verdict.automatic = reason
        verdict.reasons.append(f"automatic: {reason}")


# 4. follow-ups ------------------------------------------------------------------------------


def reference_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"\[?\b({re.escape(prefix)}-\d{{4}}-\d{{6,}})\b\]?")


async def follow_up(mail: ParsedMail, verdict: Verdict, lookups: Lookups, policy: MailPolicy) -> None:
    # Most specific first: what it answers, then the chain newest-first, then a bounce's subject.
    candidates: list[tuple[str, str]] = [(i, "in-reply-to") for i in mail.in_reply_to]
    candidates += [(i, "references") for i in reversed(mail.references)]
    if mail.report_original_id:
        candidates.insert(0, (mail.report_original_id, "report"))
    candidates = [(i, how) for i, how in candidates if i and i != mail.message_id]
    tickets = await lookups.tickets_of([i for i, _ in candidates]) if candidates else {}
    for message_id, how in candidates:
        info = tickets.get(message_id)
        if info is not None:
            await _continue(mail, verdict, lookups, info, how)
            return
    found = reference_pattern(policy.reference_prefix).search(mail.subject)
    if found:
        info = await lookups.ticket_by_reference(found.group(1))
        if info is not None:
            await _continue(mail, verdict, lookups, info, "subject")
            return
    if not verdict.automatic:
        verdict.reasons.append("new thread")


async def _continue(mail: ParsedMail, verdict: Verdict, lookups: Lookups, info: TicketInfo, how: str) -> None:
    if not info.open:
        verdict.related = info.reference
        verdict.reasons.append(f"{info.reference} is closed: a new ticket follows it ({how})")
        return
    if not verdict.automatic:
        sender = {mail.from_addr, mail.reply_to} - {""}
        if not sender & await lookups.participants(info.id):
            verdict.related = info.reference
            verdict.reasons.append(
                f"{mail.from_addr} is not part of {info.reference}: new ticket instead of merging ({how})"
            )
            return
    verdict.ticket_id = info.id
    verdict.matched_by = how
    verdict.reasons.append(f"follow-up of {info.reference} ({how})")


# 5. acknowledgement -------------------------------------------------------------------------


async def acknowledge(mail: ParsedMail, verdict: Verdict, lookups: Lookups, policy: MailPolicy) -> None:
    """Only a person's new consultation is acknowledged (the core limits it further)."""
    verdict.acknowledge = bool(
        policy.auto_ack and verdict.ticket_id is None and not verdict.automatic and not verdict.quarantine
        and mail.from_addr
    )


CHAIN: tuple[Filter, ...] = (duplicate, size_limit, auto_response, follow_up, acknowledge)


async def run_chain(mail: ParsedMail, lookups: Lookups, policy: MailPolicy, chain: tuple[Filter, ...] = CHAIN) -> Verdict:
    verdict = Verdict()
    for step in chain:
        await step(mail, verdict, lookups, policy)
        if verdict.stop:
            break
    return verdict
