"""What the core needs to know about each channel's behaviour (not its protocol).

A channel registers its rules once, at import. The core reads them when it opens a ticket,
decides on automatic messages or checks whether a free-form reply is still allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


MB = 1024 * 1024


@dataclass(frozen=True)
class FileRules:
    """What files an agent's reply may carry on a channel (`hub.files` checks them)."""

    types: frozenset[str]
    max_file_bytes: int
    max_total_bytes: int
    max_image_bytes: int | None = None  # images have a lower limit (WhatsApp: 5 MB)
    max_files: int = 10
    # How many files one provider message carries; a reply with more becomes several messages
    # (WhatsApp shows one medium per message). None: all in one (an email's attachments).
    per_message: int | None = None


@dataclass(frozen=True)
class ChannelRules:
    name: str
    identify_first: bool = False  # ask the citizen's name before queueing (the WhatsApp rule)
    reply_window: timedelta | None = None  # free-form replies only this long after the last inbound
    introduce_agent: bool = False  # tell the citizen who their agent is on assignment
    send_survey: bool = True
    can_reply: bool = True  # phone tickets are answered by calling, not by writing
    # A new message from a contact continues their open ticket on this channel. Email says no:
    # only a recognised follow-up (headers, reference) continues a ticket, a new thread is new.
    continue_open_ticket: bool = True
    # A resolved consultation may be reopened by an agent. WhatsApp says no: a citizen's message
    # after resolution opens a new consultation (with its welcome), so an old one stays closed.
    reopen: bool = True
    # A new consultation's first message may come through an entry point: a click-to-chat link
    # whose prefilled text sets its topic (hub/entry_points.py).
    entry_points: bool = False
    # Files agents may attach to replies (None: none).
    files: FileRules | None = None
    # Replies have a subject, copies (CC), the quoted message and the agent's signature (email).
    mail_options: bool = False


_RULES: dict[str, ChannelRules] = {}


def register(rules: ChannelRules) -> ChannelRules:
    _RULES[rules.name] = rules
    return rules


def rules_for(channel: str) -> ChannelRules:
    return _RULES.get(channel) or ChannelRules(name=channel)


def known_channels() -> list[str]:
    return sorted(_RULES)


# The channels the office uses. Their adapters live in channels/<name>/; the rules are domain
# knowledge, so they are declared here where the core and the tests can see them.
# Twilio's WhatsApp media: one medium per message, 16 MB, images 5 MB; these types
# (twilio.com/docs/whatsapp/guidance-whatsapp-media-messages). Twilio checks that the type the
# media URL serves matches the file.
WHATSAPP_FILES = FileRules(
    types=frozenset({
        "image/jpeg", "image/png", "audio/ogg", "audio/amr", "audio/aac", "audio/mpeg", "audio/mp4",
        "video/mp4", "video/3gpp", "application/pdf", "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/vcard",
    }),
    max_file_bytes=16 * MB, max_total_bytes=32 * MB, max_image_bytes=5 * MB, max_files=5, per_message=1,
)
# Mail: documents and images people open without risk; no programs, scripts or web pages.
# 15 MB in all keeps a mail (base64 adds a third) under the usual 20-25 MB server limits.
EMAIL_FILES = FileRules(
    types=frozenset({
        "application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "text/plain", "text/csv",
        "text/calendar", "text/vcard", "application/rtf", "application/msword", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation", "application/zip", "audio/mpeg", "audio/ogg",
        "video/mp4",
    }),
    max_file_bytes=15 * MB, max_total_bytes=15 * MB, max_files=10,
)

WHATSAPP = register(ChannelRules(
    "whatsapp", identify_first=True, reply_window=timedelta(hours=24), introduce_agent=True, reopen=False,
    entry_points=True,
    files=WHATSAPP_FILES,
))
EMAIL = register(ChannelRules("email", continue_open_ticket=False, files=EMAIL_FILES, mail_options=True))
PHONE = register(ChannelRules("phone", send_survey=False, can_reply=False))


def reply_window_open(channel: str, last_inbound_at: datetime | None, now: datetime) -> bool:
    """May a free-form reply be sent on `channel` now? (WhatsApp: within 24 h of the citizen's
    last message.) Channels without a window always say yes. The UI calls this to warn an agent
    before a reply that would need a template."""
    window = rules_for(channel).reply_window
    if window is None:
        return True
    return last_inbound_at is not None and now - last_inbound_at < window
