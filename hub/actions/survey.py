"""The satisfaction survey: looking a survey up by its token and recording the citizen's answer.

The token in the link is the capability: it is 32 random URL-safe characters, only its SHA-256
is stored (`hub.actions.lifecycle.hash_token`), it expires (`HUB_SURVEY_VALID_FOR`) and it can
be used once. One survey exists per resolved consultation (unique `ticket_id`), created by
`do_resolve`; consultations closed without identification never get one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from hub.actions.errors import DomainError, Invalid, NotFound
from hub.actions.lifecycle import hash_token
from hub.actions.unit import UnitOfWork
from hub.config import LANGUAGES
from hub.context import HubContext
from hub.db.tables import Contact, SurveyResponse, Ticket
from hub.tickets import Event, EventKind

MAX_COMMENT = 2000


class SurveyGone(DomainError):
    """The survey existed but cannot be answered any more (answered already, or expired): 410."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"this survey {reason}")
        self.reason = reason  # "answered" | "expired"


@dataclass(frozen=True)
class SurveyView:
    """What the survey page needs to show."""

    survey_id: int
    reference: str
    channel: str
    language: str
    expires_at: datetime


def _token_ok(token: str) -> bool:
    return 16 <= len(token) <= 128 and all(c.isalnum() or c in "-_" for c in token)


async def _find(session, token: str) -> SurveyResponse:  # type: ignore[no-untyped-def]
    if not _token_ok(token):
        raise NotFound("no such survey")
    stmt = select(SurveyResponse).where(SurveyResponse.token_hash == hash_token(token))
    survey = (await session.exec(stmt)).first()
    if survey is None:
        raise NotFound("no such survey")
    return survey


def _check_open(survey: SurveyResponse, now: datetime) -> None:
    if survey.answered_at is not None:
        raise SurveyGone("answered")
    if survey.expires_at <= now:
        raise SurveyGone("expired")


async def language_of(session, ticket: Ticket, default: str) -> str:  # type: ignore[no-untyped-def]
    contact = await session.get(Contact, ticket.contact_id)
    language = contact.language if contact is not None else default
    return language if language in LANGUAGES else default


async def check_survey(ctx: HubContext, token: str) -> SurveyView:
    """The open survey behind `token`; NotFound (unknown) or SurveyGone (used, expired)."""
    async with ctx.sessionmaker() as session:
        survey = await _find(session, token)
        ticket = await session.get(Ticket, survey.ticket_id)
        assert ticket is not None and survey.id is not None
        language = await language_of(session, ticket, ctx.settings.language)
        _check_open(survey, ctx.clock.now())
        return SurveyView(survey.id, ticket.reference or "", survey.channel, language, survey.expires_at)


async def survey_language(ctx: HubContext, token: str) -> str:
    """The contact's language for any page about this token (even a used or expired one)."""
    try:
        async with ctx.sessionmaker() as session:
            survey = await _find(session, token)
            ticket = await session.get(Ticket, survey.ticket_id)
            assert ticket is not None
            return await language_of(session, ticket, ctx.settings.language)
    except NotFound:
        return ctx.settings.language


async def do_answer_survey(ctx: HubContext, token: str, rating: int, comment: str = "") -> int:
    """Record the answer once; returns the survey id. Bad input changes nothing."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise Invalid("the rating must be a whole number from 1 to 5")
    comment = comment.replace("\r\n", "\n").strip()[:MAX_COMMENT]
    async with UnitOfWork(ctx) as uow:
        survey = await _find(uow.session, token)
        # Lock the row: two submissions at once record one answer, the other sees "answered".
        locked = await uow.session.get(SurveyResponse, survey.id, with_for_update=True, populate_existing=True)
        assert locked is not None
        _check_open(locked, uow.now)
        locked.rating, locked.comment, locked.answered_at = rating, comment, uow.now
        uow.session.add(locked)
        ticket = await uow.session.get(Ticket, locked.ticket_id)
        assert ticket is not None and locked.id is not None
        uow.record(
            ticket,
            Event(EventKind.SURVEY_ANSWERED, uow.now, {"rating": rating, "survey_id": locked.id,
                                                       "has_comment": bool(comment)}),
            agent_id=locked.agent_id,
        )
        return locked.id
