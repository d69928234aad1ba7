"""Automatic messages: pick the text (manager's override or catalogue), queue it for delivery;
and managers' edits of those texts (checked, audited, restorable)."""

from __future__ import annotations

from datetime import datetime
from string import Formatter
from typing import Any

import msgspec
from sqlmodel import select

from hub.actions.audit import add_audit
from hub.actions.errors import Invalid, NotFound
from hub.actions.topics import Actor, require_manager
from hub.actions.unit import UnitOfWork
from hub.config import LANGUAGES
from hub.context import HubContext
from hub.db.tables import Contact, Message, Text, Ticket, new_row
from hub.texts import DEFAULTS, RENAMED_KEYS, default_text, normalise_language, render
from hub.tickets import EventKind, Event


async def text_for(uow: UnitOfWork, key: str, language: str) -> str:
    texts: dict[tuple[str, str], str] = uow.cache.setdefault("texts", {})
    if (key, language) not in texts:
        row = (await uow.session.exec(select(Text).where(Text.key == key, Text.language == language))).first()
        texts[(key, language)] = row.body if row is not None and row.body.strip() else default_text(key, language)
    return texts[(key, language)]


async def queue_auto_message(
    uow: UnitOfWork, ticket: Ticket, contact: Contact, key: str, *, hold: bool = False,
    meta: dict[str, Any] | None = None, **values: Any
) -> Message:
    """Queue the automatic text `key`; with `hold`, keep it (status `held`) until the citizen
    writes again (a message that cannot go outside the reply window)."""
    language = normalise_language(contact.language, uow.ctx.settings.language)
    body = render(await text_for(uow, key, language), **values)
    message = new_row(
        Message, ticket_id=ticket.id, contact_id=contact.id, channel=ticket.channel, direction="out", kind="auto",
        body=body, status="held" if hold else "queued", created_at=uow.now, status_at=uow.now,
        meta={"text_key": key, "language": language, "variables": {k: str(v) for k, v in values.items()},
              **(meta or {}), **({"held": "window_closed"} if hold else {})},
    )
    await uow.add_new(message)
    if not hold:
        await uow.queue_delivery(message)
    elif ticket.id in uow.cache.get("held", {}):  # kept complete for `release_held`
        uow.cache["held"][ticket.id].append(message)
    uow.record(ticket, Event(EventKind.AUTO_MESSAGE_SENT, uow.now, {"text_key": key, "message_id": message.id}))
    return message


# Managers' edits ------------------------------------------------------------------------------
#
# A text may use the placeholders its default uses (the code that sends it supplies exactly
# those), and must keep the ones a citizen cannot do without. Edits are audited with the text
# before and after; "restore" deletes the override, so the catalogue's default applies again.
# Every instance reads the `texts` table for each message it sends (no process cache), so an
# edit applies from the next message on, on every `hub web` and `hub worker`.

REQUIRED: dict[str, frozenset[str]] = {
    "survey.invitation": frozenset({"url"}),
    "agent_intro.text": frozenset({"agent"}),
    "agent_intro.transfer": frozenset({"agent"}),
}
TEXT_MAX = 1500
# What the settings page's preview puts in (the real values come from each consultation).
SAMPLES: dict[str, str] = {
    "office": "Lleida", "citizen": "Laia Pons", "agent": "Jordi", "reference": "OAC-2026-000123",
    "url": "https://hub.example.org/survey/…", "opening": "dilluns a les 8:30",
}


def fields_of(body: str) -> list[str]:
    try:
        return [f for _l, f, _s, _c in Formatter().parse(body) if f is not None]
    except ValueError as exc:
        raise Invalid(f"the text has an unmatched brace ({exc})") from None


def allowed_placeholders(key: str) -> list[str]:
    return sorted(set(fields_of(DEFAULTS[key])))


def check_text(key: str, body: str) -> str:
    """The edited text, or Invalid saying which placeholder is unknown or missing."""
    text = body.strip()
    if not text:
        raise Invalid("the text must not be empty (restore the default instead)")
    if len(text) > TEXT_MAX:
        raise Invalid(f"the text has at most {TEXT_MAX} characters")
    used = set(fields_of(text))
    allowed = set(allowed_placeholders(key))
    unknown = sorted(used - allowed)
    if unknown:
        raise Invalid(f"unknown placeholders in {key}: {', '.join('{' + u + '}' for u in unknown)}; "
                      f"this text may use {', '.join('{' + a + '}' for a in sorted(allowed)) or 'none'}")
    missing = sorted(REQUIRED.get(key, frozenset()) - used)
    if missing:
        raise Invalid(f"{key} must keep {', '.join('{' + m + '}' for m in missing)}")
    return text


class TextOut(msgspec.Struct):
    key: str
    language: str
    body: str  # what citizens receive now
    default: str
    customised: bool
    placeholders: list[str]
    required: list[str]
    updated_at: datetime | None = None


async def list_texts(ctx: HubContext) -> list[TextOut]:
    async with ctx.sessionmaker() as session:
        rows = {(t.key, t.language): t for t in (await session.exec(select(Text))).all()}
    out = []
    for key in DEFAULTS:
        for language in LANGUAGES:
            row = rows.get((key, language))
            default = default_text(key, language)
            custom = row is not None and bool(row.body.strip())
            out.append(TextOut(key=key, language=language, body=row.body if custom else default,  # type: ignore[union-attr]
                               default=default, customised=custom, placeholders=allowed_placeholders(key),
                               required=sorted(REQUIRED.get(key, frozenset())),
                               updated_at=row.updated_at if custom else None))  # type: ignore[union-attr]
    return out


def _check_key(key: str, language: str) -> None:
    if key not in DEFAULTS:
        raise NotFound(f"there is no automatic text {key!r}")
    if language not in LANGUAGES:
        raise Invalid(f"unknown language {language!r}; one of {', '.join(LANGUAGES)}")


async def do_set_text(ctx: HubContext, actor: Actor, key: str, language: str, body: str | None) -> TextOut:
    """Change an automatic text (managers); `body` None restores the default. A key's former
    name (`hub.texts.RENAMED_KEYS`) names the same text."""
    require_manager(actor)
    key = RENAMED_KEYS.get(key, key)
    _check_key(key, language)
    text = check_text(key, body) if body is not None else None
    async with UnitOfWork(ctx) as uow:
        row = (await uow.session.exec(
            select(Text).where(Text.key == key, Text.language == language).with_for_update())).first()
        before = row.body if row is not None and row.body.strip() else default_text(key, language)
        if text is None:
            if row is not None:
                await uow.session.delete(row)
            after = default_text(key, language)
            add_audit(uow, actor.id, "text.restore", "text", f"{key}:{language}", before=before, after=after)
        else:
            if row is None:
                row = Text(key=key, language=language, body=text, updated_at=uow.now, updated_by=actor.id)
            else:
                row.body, row.updated_at, row.updated_by = text, uow.now, actor.id
            uow.session.add(row)
            after = text
            add_audit(uow, actor.id, "text.update", "text", f"{key}:{language}", before=before, after=after)
    return next(t for t in await list_texts(ctx) if t.key == key and t.language == language)
