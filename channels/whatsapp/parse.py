"""Twilio's inbound WhatsApp webhook form -> `hub.inbound.InboundMessage` (pure, no I/O).

Everything Twilio documents for an inbound message is read here (TWILIO-NOTES §1); keys we do
not know are tolerated and ignored, because Twilio adds parameters without notice. The only
exception this module raises is `ParseError`, with a message fit for a 400 answer.

Identities: the phone number comes from `WaId` (digits, no `+`) or from `From`
(`whatsapp:+34...`) when it is E.164. `From` is not always a number: users with a WhatsApp
username may hide it, and Twilio then sends a business-scoped user id (`ExternalUserId`), which
we keep as the `whatsapp_user` identity. `ProfileName` is chosen by the user and unverified, so
it is only a display hint, never an identity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.inbound import AttachmentIn, IdentityIn, InboundMessage

CHANNEL = "whatsapp"
MAX_MEDIA = 10  # WhatsApp carries one medium per message; Twilio allows up to 10 on MMS.
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SID = re.compile(r"^[A-Za-z]{2}[0-9a-fA-F]{32}$")

# Parameters copied into `meta` as they are (strings), when present.
_META_KEYS = (
    "AccountSid", "MessagingServiceSid", "To", "From", "NumSegments", "SmsStatus", "ApiVersion",
    "MessageType", "ButtonType", "InteractiveData", "FlowData", "ChannelMetadata", "Forwarded",
    "FrequentlyForwarded", "OriginalRepliedMessageSender", "OriginalRepliedMessageSid",
    "ReferralBody", "ReferralHeadline", "ReferralSourceId", "ReferralSourceType", "ReferralSourceUrl",
    "ReferralMediaId", "ReferralMediaContentType", "ReferralMediaUrl", "ReferralNumMedia", "ReferralCtwaClid",
)
_MAX_VALUE = 4000  # no documented field is longer (Body <= 1600); longer values are truncated


class ParseError(ValueError):
    """The form is not an inbound WhatsApp message we can accept (answer 400)."""


def _text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # a multi-valued key: the first value counts
        value = value[0] if value else ""
    if not isinstance(value, str):
        value = str(value)
    return value.replace("\x00", "")[:_MAX_VALUE]


def phone_from(address: str) -> str | None:
    """`whatsapp:+34600111222` -> `+34600111222`; None when it is not an E.164 number."""
    value = address.strip()
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:"):]
    value = value.replace(" ", "")
    return value if _E164.match(value) else None


def phone_from_wa_id(wa_id: str) -> str | None:
    digits = wa_id.strip()
    if digits.startswith("+"):
        digits = digits[1:]
    return phone_from("+" + digits) if digits.isdigit() else None


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _int(text: str, default: int = 0) -> int:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 6 else default


def identities_from(form: Mapping[str, Any]) -> list[IdentityIn]:
    identities: list[IdentityIn] = []
    phone = phone_from_wa_id(_text(form, "WaId")) or phone_from(_text(form, "From"))
    if phone:
        identities.append(IdentityIn("phone", phone))
    user = _text(form, "ExternalUserId").strip()
    if not user:
        # No phone and no explicit user id: the sender address itself is the only identity.
        sender = _text(form, "From").strip()
        if sender and not phone:
            user = sender
    if user.lower().startswith("whatsapp:"):
        user = user[len("whatsapp:"):].strip()
    if user:
        identities.append(IdentityIn("whatsapp_user", user[:300]))
    return identities


def _attachments(form: Mapping[str, Any]) -> list[AttachmentIn]:
    count = min(_int(_text(form, "NumMedia")), MAX_MEDIA)
    found = []
    for n in range(MAX_MEDIA):
        url = _text(form, f"MediaUrl{n}").strip()
        if not url and n >= count:
            continue
        if not url:
            continue
        if not url.lower().startswith(("https://", "http://")):
            continue  # never fetch anything but an http(s) URL
        content_type = _text(form, f"MediaContentType{n}").strip().lower() or "application/octet-stream"
        found.append(AttachmentIn(
            filename=f"media-{n}", content_type=content_type[:200], source_url=url[:2000], status="pending",
        ))
    return found


def parse_inbound(form: Mapping[str, Any], received_at: datetime) -> InboundMessage:
    """Translate one inbound webhook; raise `ParseError` when it cannot be a message."""
    sid = (_text(form, "MessageSid") or _text(form, "SmsMessageSid") or _text(form, "SmsSid")).strip()
    if not sid:
        raise ParseError("MessageSid is missing")
    if len(sid) > 64:
        raise ParseError("MessageSid is too long")
    identities = identities_from(form)
    if not identities:
        raise ParseError("neither WaId, From nor ExternalUserId identifies the sender")

    body = _text(form, "Body")
    meta: dict[str, Any] = {k: value for k in _META_KEYS if k in form and (value := _text(form, k))}
    kind = "text"
    attachments = _attachments(form)
    if attachments:
        kind = "media"

    latitude, longitude = _float(_text(form, "Latitude")), _float(_text(form, "Longitude"))
    if latitude is not None and longitude is not None and -90 <= latitude <= 90 and -180 <= longitude <= 180:
        label, address = _text(form, "Label").strip(), _text(form, "Address").strip()
        meta["location"] = {"latitude": latitude, "longitude": longitude, "label": label, "address": address}
        kind = "location"
        if not body.strip():
            place = " — ".join(p for p in (label, address) if p)
            coords = f"{latitude:.6f}, {longitude:.6f}"
            body = f"📍 {place} ({coords})" if place else f"📍 {coords}"

    button_text, button_payload = _text(form, "ButtonText"), _text(form, "ButtonPayload")
    if button_text or button_payload:
        meta["button"] = {"text": button_text, "payload": button_payload}
        kind = "button"
        if not body.strip():
            body = button_text or button_payload

    if _text(form, "ReferralSourceUrl") or _text(form, "ReferralHeadline"):
        meta["referral"] = True  # the citizen came from a click-to-WhatsApp ad
    if sid and not _SID.match(sid):
        meta["unusual_sid"] = True

    return InboundMessage(
        channel=CHANNEL, provider_id=sid, received_at=received_at, identities=identities,
        body=body, kind=kind, display_hint=_text(form, "ProfileName").strip()[:200],
        attachments=attachments, meta=meta,
    )


def parse_status(form: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """A status callback -> (MessageSid, status, error code or None)."""
    sid = (_text(form, "MessageSid") or _text(form, "SmsSid")).strip()
    status = (_text(form, "MessageStatus") or _text(form, "SmsStatus")).strip().lower()
    if not sid or len(sid) > 64:
        raise ParseError("MessageSid is missing")
    if not status or len(status) > 20:
        raise ParseError("MessageStatus is missing")
    code = _text(form, "ErrorCode").strip() or None
    return sid, status, code[:20] if code else None
