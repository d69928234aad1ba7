"""The pure lifecycle under arbitrary sequences of inputs (hypothesis state machine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hub.tickets import (
    CLOSED_STATUSES, OWNED_STATUSES, AgentReply, Assign, CitizenMessage, DueKind, EventKind,
    IllegalTransition, Open, Policy, Resolve, Status, TicketState, TimerDue, Unassign, apply, open_ticket,
)

POLICY = Policy(reminder_after=timedelta(minutes=20), close_after=timedelta(minutes=20))
START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


class Lifecycle(RuleBasedStateMachine):
    @initialize(identify=st.booleans())
    def open(self, identify: bool) -> None:
        self.now = START
        result = open_ticket(Open("whatsapp", identify=identify), self.now, POLICY)
        self.state = result.state
        self.history = [e.kind for e in result.events]
        assert self.history[0] is EventKind.CREATED

    def _try(self, inp: object) -> None:
        before = self.state
        try:
            result = apply(self.state, inp, self.now, POLICY)  # type: ignore[arg-type]
        except IllegalTransition:
            assert self.state == before  # an illegal input changes nothing
            return
        # Every transition records at least one event, stamped now.
        assert result.events, f"{inp} from {before.status} recorded nothing"
        assert all(e.at == self.now for e in result.events)
        if result.state.status != before.status:
            assert any(e.kind.value in {
                "identified", "queued", "assigned", "agent_replied", "citizen_replied",
                "unassigned", "resolved", "closed_unidentified",
            } for e in result.events)
        self.state = result.state
        self.history.extend(e.kind for e in result.events)

    @rule(minutes=st.integers(0, 45))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def citizen_writes(self) -> None:
        self._try(CitizenMessage())

    @rule(kind=st.sampled_from(list(DueKind)))
    def timer_fires(self, kind: DueKind) -> None:
        self._try(TimerDue(kind))

    @rule(agent=st.integers(1, 3))
    def assign(self, agent: int) -> None:
        self._try(Assign(agent))

    @rule()
    def hand_back(self) -> None:
        self._try(Unassign())

    @rule(agent=st.integers(1, 3))
    def agent_replies(self, agent: int) -> None:
        self._try(AgentReply(agent))

    @rule(agent=st.one_of(st.none(), st.integers(1, 3)))
    def resolve(self, agent: int | None) -> None:
        self._try(Resolve(agent))

    @invariant()
    def state_is_consistent(self) -> None:
        s: TicketState = self.state
        assert s.status in set(Status)
        # Owned tickets have an owner; unowned ones do not.
        assert (s.assignee_id is not None) == (s.status in OWNED_STATUSES) or s.status in CLOSED_STATUSES
        # Only identifying tickets wait on a timer, and then always on one.
        assert (s.due_at is not None) == (s.status is Status.IDENTIFYING)
        assert (s.due_kind is not None) == (s.due_at is not None)
        if s.status in CLOSED_STATUSES:
            assert s.closed_at is not None
        if s.status is Status.CLOSED_UNIDENTIFIED:
            assert EventKind.REMINDER_SENT in self.history and s.identified_at is None
        if s.status not in (Status.IDENTIFYING, Status.CLOSED_UNIDENTIFIED) and EventKind.IDENTIFIED not in self.history:
            # Skipping identification is only possible for tickets opened without it.
            assert EventKind.QUEUED in self.history
        if s.first_response_at is not None:
            assert EventKind.FIRST_AGENT_REPLY in self.history
        assert self.history.count(EventKind.FIRST_AGENT_REPLY) <= 1
        assert self.history.count(EventKind.RESOLVED) + self.history.count(EventKind.CLOSED_UNIDENTIFIED) <= 1


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)


def test_a_timer_cannot_fire_early() -> None:
    state = open_ticket(Open("whatsapp", identify=True), START, POLICY).state
    with pytest.raises(IllegalTransition):
        apply(state, TimerDue(DueKind.REMINDER), START + timedelta(minutes=19), POLICY)


def test_closed_tickets_refuse_everything() -> None:
    state = TicketState(status=Status.RESOLVED, closed_at=START, resolved_at=START)
    for inp in (CitizenMessage(), Assign(1), Unassign(), AgentReply(1), Resolve(1), TimerDue(DueKind.CLOSE)):
        with pytest.raises(IllegalTransition):
            apply(state, inp, START, POLICY)  # type: ignore[arg-type]
