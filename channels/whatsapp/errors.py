"""Twilio error codes that matter for WhatsApp, with the explanation an agent reads.

Source: twilio.com/docs/api/errors (TWILIO-NOTES §3). Codes are grouped by what the sender
should do: try again later (transient), try again much later (rate limits), or give up and
tell the agent (permanent).
"""

from __future__ import annotations

EXPLANATIONS: dict[str, str] = {
    "63016": "The 24-hour WhatsApp window is closed: only an approved template can be sent until the citizen writes again.",
    "63018": "Twilio's WhatsApp rate limit was exceeded; the message will be retried.",
    "63024": "The recipient cannot receive WhatsApp messages (not on WhatsApp, terms not accepted, or an old app).",
    "63015": "The recipient has not joined the Twilio WhatsApp sandbox.",
    "63003": "The recipient's WhatsApp number is not valid.",
    "63032": "The user has chosen not to receive this kind of message (WhatsApp marketing opt-out).",
    "63049": "Meta chose not to deliver this marketing message.",
    "63051": "WhatsApp could not deliver the message to this recipient right now.",
    "63017": "Twilio's account-wide rate limit was exceeded; the message will be retried.",
    "63005": "WhatsApp did not accept the message: the channel refused it.",
    "63007": "The WhatsApp sender is not set up in Twilio (check HUB_TWILIO_WHATSAPP_FROM).",
    "63027": "The template could not be delivered (template problem or paused by Meta).",
    "63028": "The template's variables do not match the approved template.",
    "21211": "The citizen's phone number is not a valid number.",
    "21408": "The Twilio account may not send to this country.",
    "21610": "The citizen has unsubscribed from messages of this sender (STOP).",
    "21614": "The number is not a mobile number that can receive messages.",
    "21606": "The sender number cannot send messages (check HUB_TWILIO_WHATSAPP_FROM).",
    "21656": "The template variables (ContentVariables) are invalid.",
    "20003": "Twilio rejected the credentials (check HUB_TWILIO_ACCOUNT_SID and HUB_TWILIO_AUTH_TOKEN).",
    "20429": "Too many requests to Twilio; the message will be retried.",
    "30003": "The citizen's phone is unreachable.",
    "30005": "The number is unknown or no longer exists.",
    "30006": "The number cannot receive this message (landline or unreachable carrier).",
    "30007": "The message was filtered by the carrier.",
    "30008": "Unknown delivery error reported by the carrier.",
}

# Codes after which another attempt would only fail the same way.
PERMANENT: frozenset[str] = frozenset({
    "63016", "63024", "63015", "63003", "63032", "63049", "63007", "63027", "63028", "63005",
    "21211", "21408", "21610", "21614", "21606", "21656", "20003", "30005", "30006",
})
# Rate limits: worth retrying, after a longer pause than an ordinary transient error.
RATE_LIMITED: frozenset[str] = frozenset({"63018", "63017", "20429"})


def explain(code: str | int | None, fallback: str = "") -> str:
    """A sentence for the agent; unknown codes keep Twilio's own message."""
    if code is None or str(code) == "":
        return fallback or "Twilio reported an error."
    text = EXPLANATIONS.get(str(code))
    if text:
        return f"{text} (Twilio error {code})"
    return f"{fallback or 'Twilio reported an error'} (Twilio error {code})"
