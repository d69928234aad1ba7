"""WhatsApp's 24-hour customer-service window, in one small object (pure).

Free-form messages may be sent only within 24 hours of the citizen's last inbound message.
Outside it, only an approved template (a Twilio Content SID) may be sent, never template text
in `Body` (error 63016). Two of our messages have a template: the survey invitation and the
"an agent answered you" notice; anything else outside the window is refused with a reason the
agent reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from hub.channel_rules import reply_window_open
from hub.delivery import OutboundMessage


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while a free-form WhatsApp message is allowed."""
    return reply_window_open("whatsapp", last_inbound_at, now)


@dataclass(frozen=True)
class FreeForm:
    body: str


@dataclass(frozen=True)
class UseTemplate:
    content_sid: str
    variables: dict[str, str]

    @property
    def content_variables(self) -> str:
        return json.dumps(self.variables, ensure_ascii=False)


@dataclass(frozen=True)
class Refuse:
    reason: str


Decision = FreeForm | UseTemplate | Refuse

CLOSED_NO_TEMPLATE = (
    "The WhatsApp 24-hour window is closed (the citizen's last message is more than 24 hours old) "
    "and no approved template is configured for this message ({setting}). The citizen must write "
    "first, or ask an administrator to configure the template."
)
CLOSED_NOT_TEMPLATABLE = (
    "The WhatsApp 24-hour window is closed (the citizen's last message is more than 24 hours old): "
    "this automatic message cannot be sent until the citizen writes again."
)


def decide(message: OutboundMessage, now: datetime, survey_template: str, reply_template: str) -> Decision:
    """How to send `message` now: as it is, as a template, or not at all.

    Template variables (documented in channels/whatsapp/README.md):
    survey {"1": reference, "2": survey URL}; agent reply {"1": reference, "2": citizen's name}.
    """
    if window_open(message.last_inbound_at, now):
        return FreeForm(message.body)
    variables = message.meta.get("variables") or {}
    if message.meta.get("survey") or message.meta.get("text_key") == "survey.invitation":
        if not survey_template:
            return Refuse(CLOSED_NO_TEMPLATE.format(setting="HUB_TWILIO_TEMPLATE_SURVEY"))
        return UseTemplate(survey_template, {
            "1": str(variables.get("reference") or message.ticket_reference),
            "2": str(variables.get("url") or ""),
        })
    if message.kind == "text" or message.meta.get("template_for") == "agent_reply":  # an agent's reply, or its notice
        if not reply_template:
            return Refuse(CLOSED_NO_TEMPLATE.format(setting="HUB_TWILIO_TEMPLATE_AGENT_REPLY"))
        return UseTemplate(reply_template, {
            "1": message.ticket_reference, "2": message.contact_name or "",
        })
    return Refuse(CLOSED_NOT_TEMPLATABLE)
