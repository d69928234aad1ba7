"""Who gets the next ticket: the pure routing rules, checked with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.routing import AgentLoad, choose_agent, eligible


def plan_assignments(agents: list[AgentLoad], waiting: list[int], now: datetime) -> list[tuple[int, int]]:
    """choose_agent applied ticket after ticket, as the queue drain does (the properties below)."""
    loads = {a.agent_id: a for a in agents}
    plan: list[tuple[int, int]] = []
    for ticket_id in waiting:
        agent = choose_agent(list(loads.values()))
        if agent is None:
            break
        plan.append((ticket_id, agent.agent_id))
        loads[agent.agent_id] = AgentLoad(
            agent.agent_id, agent.presence, agent.capacity, agent.load + 1, now
        )
    return plan


T0 = datetime(2026, 1, 1, tzinfo=UTC)

agent_loads = st.builds(
    AgentLoad,
    agent_id=st.integers(1, 10_000),
    presence=st.sampled_from(["available", "away", "offline"]),
    capacity=st.integers(0, 6),
    load=st.integers(0, 8),
    last_assigned_at=st.one_of(st.none(), st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s))),
)
teams = st.lists(agent_loads, max_size=8, unique_by=lambda a: a.agent_id)
queues = st.lists(st.integers(1, 10**6), max_size=40, unique=True)


@given(teams, queues)
def test_never_beyond_capacity_and_never_to_away_or_offline(agents: list[AgentLoad], waiting: list[int]) -> None:
    plan = plan_assignments(agents, waiting, T0)
    by_id = {a.agent_id: a for a in agents}
    given_to: dict[int, int] = {}
    for _, agent_id in plan:
        given_to[agent_id] = given_to.get(agent_id, 0) + 1
    for agent_id, n in given_to.items():
        agent = by_id[agent_id]
        assert agent.presence == "available"
        assert agent.load + n <= agent.capacity


@given(teams, queues)
def test_oldest_first_and_as_many_as_there_is_room_for(agents: list[AgentLoad], waiting: list[int]) -> None:
    plan = plan_assignments(agents, waiting, T0)
    # the tickets handed out are exactly the head of the queue, in order
    assert [ticket for ticket, _ in plan] == waiting[: len(plan)]
    room = sum(a.free for a in agents if a.presence == "available")
    assert len(plan) == min(len(waiting), room)


@given(teams)
def test_choose_agent_picks_an_eligible_least_loaded_agent(agents: list[AgentLoad]) -> None:
    chosen = choose_agent(agents)
    candidates = [a for a in agents if eligible(a)]
    if not candidates:
        assert chosen is None
        return
    assert chosen is not None and eligible(chosen)
    assert chosen.load == min(a.load for a in candidates)


@settings(max_examples=200)
@given(st.integers(1, 6), st.integers(0, 60), st.integers(0, 3))
def test_round_robin_spreads_work_evenly_among_equals(n_agents: int, n_tickets: int, start_load: int) -> None:
    agents = [AgentLoad(i, "available", 100, start_load, None) for i in range(1, n_agents + 1)]
    plan = plan_assignments(agents, list(range(1, n_tickets + 1)), T0)
    counts = [sum(1 for _, a in plan if a == agent.agent_id) for agent in agents]
    assert max(counts) - min(counts) <= 1


@given(st.integers(2, 6), st.integers(1, 5))
def test_among_equal_loads_the_agent_served_longest_ago_goes_first(n_agents: int, rounds: int) -> None:
    # Each agent got a ticket at a different moment and has the same load: the one whose
    # last ticket is oldest is next, so tickets rotate instead of piling on the same person.
    agents = [AgentLoad(i, "available", 10, 1, T0 + timedelta(minutes=n_agents - i)) for i in range(1, n_agents + 1)]
    first = choose_agent(agents)
    assert first is not None and first.agent_id == n_agents
    plan = plan_assignments(agents, list(range(rounds * n_agents)), T0 + timedelta(hours=1))
    order = [a for _, a in plan][:n_agents]
    assert sorted(order) == list(range(1, n_agents + 1))  # everyone once before anyone twice
