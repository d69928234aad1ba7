"""Survey token rules: unguessable, stored hashed, single use, expiring; answers tied to the ticket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from hub.actions.agents import do_create_agent
from hub.actions.errors import Conflict, Invalid, NotFound
from hub.actions.lifecycle import do_assign, do_resolve
from hub.actions.messages import do_receive_message
from hub.actions.survey import SurveyGone, check_survey, do_answer_survey, survey_language
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Contact, EventRow, SurveyResponse
from hub.inbound import IdentityIn, InboundMessage


async def resolved_email(ctx: HubContext, clock: FakeClock, language: str = "es") -> tuple[str, int, int]:
    """An email consultation owned by agent A, resolved by manager B: returns (token, ticket, A)."""
    a = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    b = await do_create_agent(ctx, "b@oac.example", "Agent B", "manager", "password123")
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id="<m1@example.org>", received_at=clock.now(), body="Hola",
        identities=[IdentityIn("email", "citizen@example.org")], language=language))
    assert got.ticket_id is not None
    await do_assign(ctx, got.ticket_id, a, by_agent_id=a)
    resolved = await do_resolve(ctx, got.ticket_id, b)
    assert resolved.survey_url is not None
    return resolved.survey_url.rsplit("/", 1)[1], got.ticket_id, a


async def test_a_survey_is_answered_once_and_tied_to_ticket_channel_and_owner(ctx: HubContext, clock: FakeClock) -> None:
    token, ticket_id, owner = await resolved_email(ctx, clock)
    assert len(token) >= 32
    async with ctx.sessionmaker() as s:
        [survey] = (await s.exec(select(SurveyResponse))).all()
    assert survey.token_hash != token and token not in survey.token_hash  # only the hash is stored
    view = await check_survey(ctx, token)
    assert (view.language, view.channel) == ("es", "email") and view.reference.startswith("OAC-")
    clock.advance(hours=3)
    await do_answer_survey(ctx, token, 4, "  Molt bé\r\ngràcies  ")
    async with ctx.sessionmaker() as s:
        [survey] = (await s.exec(select(SurveyResponse))).all()
        [event] = (await s.exec(select(EventRow).where(EventRow.kind == "survey_answered"))).all()
    assert (survey.rating, survey.comment, survey.answered_at) == (4, "Molt bé\ngràcies", clock.now())
    assert (survey.ticket_id, survey.channel, survey.agent_id) == (ticket_id, "email", owner)
    assert (event.ticket_id, event.agent_id, event.channel, event.data["rating"]) == (ticket_id, owner, "email", 4)
    with pytest.raises(SurveyGone) as used:
        await do_answer_survey(ctx, token, 1, "changed my mind")
    assert used.value.reason == "answered"
    with pytest.raises(SurveyGone):
        await check_survey(ctx, token)
    async with ctx.sessionmaker() as s:
        [survey] = (await s.exec(select(SurveyResponse))).all()
        events = (await s.exec(select(EventRow).where(EventRow.kind == "survey_answered"))).all()
    assert (survey.rating, len(events)) == (4, 1)  # the second answer changed nothing


async def test_a_survey_expires(ctx: HubContext, clock: FakeClock) -> None:
    token, _, _ = await resolved_email(ctx, clock)
    clock.advance(ctx.settings.survey_valid_for - timedelta(seconds=1))
    assert (await check_survey(ctx, token)).survey_id
    clock.advance(seconds=1)
    with pytest.raises(SurveyGone) as gone:
        await do_answer_survey(ctx, token, 5)
    assert gone.value.reason == "expired"
    assert await survey_language(ctx, token) == "es"  # the "expired" page still speaks Spanish


@pytest.mark.parametrize("token", ["", "x" * 40, "short", "../../etc/passwd" + "a" * 20, "ñ" * 30, "a" * 500])
async def test_a_wrong_token_is_not_found(ctx: HubContext, clock: FakeClock, token: str) -> None:
    await resolved_email(ctx, clock)
    with pytest.raises(NotFound):
        await check_survey(ctx, token)
    with pytest.raises(NotFound):
        await do_answer_survey(ctx, token, 5)
    assert await survey_language(ctx, token) == ctx.settings.language


@pytest.mark.parametrize("rating", [0, 6, -1, 10])
async def test_a_bad_rating_changes_nothing(ctx: HubContext, clock: FakeClock, rating: int) -> None:
    token, _, _ = await resolved_email(ctx, clock)
    with pytest.raises(Invalid):
        await do_answer_survey(ctx, token, rating)
    await do_answer_survey(ctx, token, 3)  # still open


async def test_one_survey_per_consultation(ctx: HubContext, clock: FakeClock) -> None:
    _, ticket_id, _ = await resolved_email(ctx, clock)
    with pytest.raises(Conflict):
        await do_resolve(ctx, ticket_id, None)
    async with ctx.sessionmaker() as s:
        assert len((await s.exec(select(SurveyResponse))).all()) == 1
        contact = (await s.exec(select(Contact))).one()
    assert contact.language == "es"
