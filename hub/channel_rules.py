"""What the core needs to know about each channel's behaviour (not its protocol).

A channel registers its rules once, at import. The core reads them when it opens a ticket,
decides on automatic messages or checks whether a free-form reply is still allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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
WHATSAPP = register(ChannelRules(
    "whatsapp", identify_first=True, reply_window=timedelta(hours=24), introduce_agent=True, reopen=False,
    entry_points=True,
))
EMAIL = register(ChannelRules("email", continue_open_ticket=False))
PHONE = register(ChannelRules("phone", send_survey=False, can_reply=False))


def reply_window_open(channel: str, last_inbound_at: datetime | None, now: datetime) -> bool:
    """May a free-form reply be sent on `channel` now? (WhatsApp: within 24 h of the citizen's
    last message.) Channels without a window always say yes. The UI calls this to warn an agent
    before a reply that would need a template."""
    window = rules_for(channel).reply_window
    if window is None:
        return True
    return last_inbound_at is not None and now - last_inbound_at < window
