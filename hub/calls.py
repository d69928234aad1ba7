"""A phone call's log, built from a telephony provider's progress signals: pure, order-free.

Providers report a call as a stream of signals (ringing, answered, completed, busy, ...) that may
arrive out of order and more than once. `CallLog.merge` folds them so that the result depends
only on the *set* of signals received: merging is commutative, associative and idempotent (the
log is a join-semilattice), so every arrival order and every duplicate give the same final log.

    ringing --answered--> in_progress --completed--> ended (answered)
       |                                   no_answer / busy / canceled / failed
       +---------------------------------> ended (missed or busy)

Rules (after Zammad's CTI log):
- the start is the earliest moment any signal reports (a lone final signal with a duration
  reports a start of `at - duration`);
- an answer anywhere means the call was answered: nothing can un-answer it;
- the end is the latest final signal; the duration is the longest one reported;
- a final status without an answer: `busy` stays busy, a machine's answer is `voicemail`,
  everything else is missed.
The channel adapter translates its provider's fields into `CallSignal`; no provider names here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Signal(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CANCELED = "canceled"
    FAILED = "failed"
    VOICEMAIL = "voicemail"  # ended after a machine answered (the provider detected it)


FINAL_SIGNALS = frozenset({
    Signal.COMPLETED, Signal.BUSY, Signal.NO_ANSWER, Signal.CANCELED, Signal.FAILED, Signal.VOICEMAIL,
})


class Outcome(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    VOICEMAIL = "voicemail"
    BUSY = "busy"


# Outcomes an agent can log; inbound calls with these outcomes need a call-back.
NOT_REACHED = frozenset({Outcome.MISSED, Outcome.BUSY, Outcome.VOICEMAIL})


class CallState(StrEnum):
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    ENDED = "ended"


@dataclass(frozen=True)
class CallSignal:
    """One progress report about one call, in the hub's words."""

    provider_id: str
    signal: Signal
    at: datetime
    direction: str  # inbound | outbound (seen from the office)
    number: str  # the citizen's side, E.164 or "anonymous"
    duration_s: int | None = None  # reported with final signals
    sequence: int | None = None


# How much a final signal says about the outcome; the join keeps the strongest.
_FINAL_RANK = {Outcome.MISSED: 0, Outcome.BUSY: 1, Outcome.VOICEMAIL: 2, Outcome.ANSWERED: 3}


@dataclass(frozen=True)
class CallLog:
    provider_id: str
    direction: str
    number: str
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    final: Outcome | None = None  # what the final signals alone say (None: no final signal yet)
    duration_s: int | None = None
    last_sequence: int = -1

    @classmethod
    def from_signal(cls, s: CallSignal) -> "CallLog":
        final = _final_outcome(s.signal)
        start = s.at
        if final is not None and s.duration_s:
            start = s.at - timedelta(seconds=s.duration_s)
        return cls(
            provider_id=s.provider_id, direction=s.direction, number=s.number, started_at=start,
            answered_at=s.at if s.signal is Signal.ANSWERED else None,
            ended_at=s.at if final is not None else None, final=final,
            duration_s=s.duration_s if final is not None else None,
            last_sequence=s.sequence if s.sequence is not None else -1,
        )

    def merge(self, other: "CallLog") -> "CallLog":
        """The join of two partial logs of the same call (commutative, associative, idempotent)."""
        if other.provider_id != self.provider_id:
            raise ValueError("cannot merge the logs of two different calls")
        return replace(
            self,
            # Direction and number are the same on every signal of a call; the min keeps the
            # join order-free even if a provider disagreed with itself.
            direction=min(self.direction, other.direction),
            number=min(self.number, other.number),
            started_at=min(self.started_at, other.started_at),
            answered_at=_min(self.answered_at, other.answered_at),
            ended_at=_max(self.ended_at, other.ended_at),
            final=_strongest(self.final, other.final),
            duration_s=_max(self.duration_s, other.duration_s),
            last_sequence=max(self.last_sequence, other.last_sequence),
        )

    def add(self, s: CallSignal) -> "CallLog":
        return self.merge(CallLog.from_signal(s))

    # What the log means ---------------------------------------------------------------

    @property
    def state(self) -> CallState:
        if self.final is not None:
            return CallState.ENDED
        return CallState.IN_PROGRESS if self.answered_at is not None else CallState.RINGING

    @property
    def outcome(self) -> Outcome | None:
        if self.final is None:
            return None
        if self.answered_at is not None:
            return Outcome.ANSWERED
        return self.final

    @property
    def talk_s(self) -> int | None:
        """Talking time: the reported duration of an answered call (0 when not answered)."""
        if self.outcome is None:
            return None
        if self.outcome is not Outcome.ANSWERED:
            return 0
        if self.duration_s is not None:
            return self.duration_s
        if self.answered_at is not None and self.ended_at is not None:
            return max(0, int((self.ended_at - self.answered_at).total_seconds()))
        return None

    @property
    def wait_s(self) -> int | None:
        """Ringing time: until the answer, or until the caller gave up."""
        until = self.answered_at or self.ended_at
        if until is None:
            return None
        return max(0, int((until - self.started_at).total_seconds()))


def fold(signals: list[CallSignal]) -> CallLog:
    """The log of one call from all its signals (any order, duplicates allowed)."""
    if not signals:
        raise ValueError("a call log needs at least one signal")
    log = CallLog.from_signal(signals[0])
    for s in signals[1:]:
        log = log.add(s)
    return log


def needs_call_back(direction: str, outcome: str | None, number: str) -> bool:
    """An inbound call nobody answered, from a number we can call."""
    return direction == "inbound" and outcome in NOT_REACHED and number != "anonymous" and bool(number)


def _final_outcome(signal: Signal) -> Outcome | None:
    if signal not in FINAL_SIGNALS:
        return None
    if signal is Signal.COMPLETED:
        return Outcome.ANSWERED
    if signal is Signal.BUSY:
        return Outcome.BUSY
    if signal is Signal.VOICEMAIL:
        return Outcome.VOICEMAIL
    return Outcome.MISSED


def _strongest(a: Outcome | None, b: Outcome | None) -> Outcome | None:
    if a is None or b is None:
        return a or b
    return a if _FINAL_RANK[a] >= _FINAL_RANK[b] else b


def _min(a, b):  # type: ignore[no-untyped-def]
    if a is None or b is None:
        return a if b is None else b
    return min(a, b)


def _max(a, b):  # type: ignore[no-untyped-def]
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)
