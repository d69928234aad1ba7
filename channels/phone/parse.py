"""Twilio Voice call status callbacks -> `CallSignal` (pure: no I/O, no clock of its own).

Twilio names (TWILIO-NOTES §7): `CallSid`, `CallStatus` (queued, initiated, ringing,
in-progress, completed, busy, no-answer, canceled, failed), `Direction` (inbound,
outbound-api, outbound-dial), `From`, `To`, `CallDuration` (seconds, on final callbacks),
`SequenceNumber`, `Timestamp` (RFC 2822), and with answering machine detection `AnsweredBy`
(`human`, `machine_start`, `machine_end_beep`, `fax`, `unknown`, ...): a machine's answer is a
voicemail, not a conversation. Unknown keys are ignored: Twilio adds parameters.

Who the citizen is depends on the leg: on an `inbound` call and on an `outbound-dial` leg (the
office's Twilio number forwarding a citizen's call to the office line) the citizen is `From`;
on an `outbound-api` call (the office calling out) the citizen is `To`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from hub.calls import CallSignal, Signal
from hub.phones import ANONYMOUS, try_normalise

STATUSES: dict[str, Signal] = {
    "queued": Signal.QUEUED, "initiated": Signal.QUEUED, "ringing": Signal.RINGING,
    "in-progress": Signal.ANSWERED, "answered": Signal.ANSWERED, "completed": Signal.COMPLETED,
    "busy": Signal.BUSY, "no-answer": Signal.NO_ANSWER, "canceled": Signal.CANCELED,
    "cancelled": Signal.CANCELED, "failed": Signal.FAILED,
}


class ParseError(ValueError):
    """The callback lacks what identifies a call; Twilio gets a 400 with this message."""


class UnknownStatus(ParseError):
    """A status this version does not know: acknowledged, not stored."""


def parse_call_status(form: Mapping[str, str], received_at: datetime, region: str = "ES") -> CallSignal:
    sid = (form.get("CallSid") or "").strip()
    if not sid:
        raise ParseError("CallSid is missing")
    if len(sid) > 64:
        raise ParseError("CallSid is too long")
    raw_status = (form.get("CallStatus") or "").strip().lower()
    if not raw_status:
        raise ParseError("CallStatus is missing")
    signal = STATUSES.get(raw_status)
    if signal is None:
        raise UnknownStatus(f"unknown CallStatus {raw_status!r}")
    if (form.get("AnsweredBy") or "").startswith(("machine", "fax")):
        # Answering machine detection said no person picked up: not an answer, a voicemail.
        signal = {Signal.ANSWERED: Signal.RINGING, Signal.COMPLETED: Signal.VOICEMAIL}.get(signal, signal)
    twilio_direction = (form.get("Direction") or "inbound").strip().lower()
    outbound = twilio_direction == "outbound-api"
    citizen = form.get("To" if outbound else "From") or ""
    return CallSignal(
        provider_id=sid, signal=signal, at=_timestamp(form.get("Timestamp"), received_at),
        direction="outbound" if outbound else "inbound",
        number=try_normalise(citizen, region) or ANONYMOUS,
        duration_s=_int(form.get("CallDuration"), "CallDuration"),
        sequence=_int(form.get("SequenceNumber"), "SequenceNumber"),
    )


def _timestamp(raw: str | None, fallback: datetime) -> datetime:
    """Twilio's `Timestamp` (RFC 2822, or ISO 8601 to be lenient); when absent, the arrival time."""
    if not raw:
        return fallback
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return fallback
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


MAX_INT = 2**31 - 1  # what the tables hold


def _int(raw: str | None, name: str) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if value > MAX_INT:
        raise ParseError(f"{name} is out of range")
    return value if value >= 0 else None
