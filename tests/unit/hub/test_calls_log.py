"""The pure call log: any order, any duplicates, the same final log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.calls import CallLog, CallSignal, CallState, Outcome, Signal, fold, needs_call_back

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sig(signal: Signal, seconds: int, seq: int, duration: int | None = None) -> CallSignal:
    return CallSignal("CA1", signal, T0 + timedelta(seconds=seconds), "inbound", "+34973930247", duration, seq)


ANSWERED = [sig(Signal.QUEUED, 0, 0), sig(Signal.RINGING, 1, 1), sig(Signal.ANSWERED, 9, 2),
            sig(Signal.COMPLETED, 129, 3, duration=120)]
MISSED = [sig(Signal.RINGING, 0, 0), sig(Signal.NO_ANSWER, 30, 1, duration=0)]
BUSY = [sig(Signal.RINGING, 0, 0), sig(Signal.BUSY, 2, 1, duration=0)]
CANCELED = [sig(Signal.RINGING, 0, 0), sig(Signal.CANCELED, 12, 1, duration=0)]
FAILED_AFTER_ANSWER = [sig(Signal.RINGING, 0, 0), sig(Signal.ANSWERED, 5, 1), sig(Signal.FAILED, 20, 2)]


def test_ringing_answered_completed_is_an_answered_call_with_wait_and_talk_time() -> None:
    log = fold(ANSWERED)
    assert log.state is CallState.ENDED and log.outcome is Outcome.ANSWERED
    assert log.started_at == T0 and log.answered_at == T0 + timedelta(seconds=9)
    assert log.ended_at == T0 + timedelta(seconds=129)
    assert log.wait_s == 9 and log.talk_s == 120 and log.last_sequence == 3


def test_the_log_moves_through_ringing_and_in_progress() -> None:
    assert fold(ANSWERED[:2]).state is CallState.RINGING and fold(ANSWERED[:2]).outcome is None
    assert fold(ANSWERED[:3]).state is CallState.IN_PROGRESS and fold(ANSWERED[:3]).talk_s is None


def test_unanswered_endings_are_missed_or_busy() -> None:
    assert fold(MISSED).outcome is Outcome.MISSED and fold(MISSED).wait_s == 30 and fold(MISSED).talk_s == 0
    assert fold(BUSY).outcome is Outcome.BUSY
    assert fold(CANCELED).outcome is Outcome.MISSED
    assert fold(FAILED_AFTER_ANSWER).outcome is Outcome.ANSWERED
    assert fold(FAILED_AFTER_ANSWER).talk_s == 15  # no duration reported: from the answer to the end


def test_a_lone_completed_callback_dates_the_start_from_its_duration() -> None:
    log = fold([sig(Signal.COMPLETED, 300, 0, duration=60)])
    assert log.started_at == T0 + timedelta(seconds=240) and log.outcome is Outcome.ANSWERED and log.talk_s == 60


def test_an_answer_arriving_after_the_hang_up_still_counts() -> None:
    assert fold(list(reversed(ANSWERED))) == fold(ANSWERED)


def test_call_backs_are_needed_only_for_unreached_inbound_numbers() -> None:
    assert needs_call_back("inbound", "missed", "+34973930247")
    assert needs_call_back("inbound", "voicemail", "+34973930247")
    assert not needs_call_back("inbound", "answered", "+34973930247")
    assert not needs_call_back("outbound", "missed", "+34973930247")
    assert not needs_call_back("inbound", "missed", "anonymous")


SCENARIOS = [ANSWERED, MISSED, BUSY, CANCELED, FAILED_AFTER_ANSWER]


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[CallSignal], list[CallSignal]]:
    """A scenario, and the same signals shuffled with some of them delivered twice or more."""
    scenario = draw(st.sampled_from(SCENARIOS))
    extra = draw(st.lists(st.sampled_from(scenario), max_size=6))
    return scenario, draw(st.permutations(scenario + extra))


@settings(max_examples=400, deadline=None)
@given(arrivals())
def test_every_order_and_every_duplicate_give_the_same_log(case: tuple[list[CallSignal], list[CallSignal]]) -> None:
    scenario, delivered = case
    assert fold(delivered) == fold(scenario)


signals = st.builds(
    CallSignal, provider_id=st.just("CA1"), signal=st.sampled_from(list(Signal)),
    at=st.integers(0, 3600).map(lambda s: T0 + timedelta(seconds=s)),
    direction=st.just("inbound"), number=st.just("+34973930247"),
    duration_s=st.none() | st.integers(0, 3600), sequence=st.none() | st.integers(0, 20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(signals, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_merging_is_order_free_even_for_nonsense_streams(stream: list[CallSignal], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(stream)
    rnd.shuffle(shuffled)
    assert fold(shuffled + shuffled[:2]) == fold(stream)
    a, b, c = (CallLog.from_signal(s) for s in (stream * 3)[:3])
    assert a.merge(b) == b.merge(a) and a.merge(a) == a and a.merge(b).merge(c) == a.merge(b.merge(c))


def test_a_call_a_machine_answered_is_a_voicemail_unless_a_person_answered() -> None:
    machine = [sig(Signal.RINGING, 0, 0), sig(Signal.VOICEMAIL, 40, 1, duration=25)]
    assert fold(machine).outcome is Outcome.VOICEMAIL and fold(machine).talk_s == 0
    assert fold(list(reversed(machine))) == fold(machine)
    assert fold([*machine, sig(Signal.ANSWERED, 5, 2)]).outcome is Outcome.ANSWERED
