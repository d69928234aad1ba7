"""The citizens' satisfaction survey page: `GET/POST /survey/{token}`, no login.

The token in the link is the capability (hub/actions/survey.py: unguessable, stored hashed,
single use, expiring). The form keeps the app's CSRF protection: the GET that shows it sets the
CSRF cookie and the form carries the hidden field. Pages speak the contact's language.
Unknown token: 404; answered or expired: 410; a missing rating shows the form again (422).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Template

from agent_ui.web import page
from hub.actions.errors import Invalid, NotFound
from hub.actions.survey import MAX_COMMENT, SurveyGone, check_survey, do_answer_survey, survey_language
from hub.context import HubContext


class SurveyForm(msgspec.Struct):
    rating: str = ""
    comment: str = ""


def _speak(request: Request[Any, Any, Any], language: str) -> None:
    request.scope["hub_lang"] = language  # agent_ui.i18n reads the request's language from here


async def _unavailable(request: Request[Any, Any, Any], ctx: HubContext, token: str, exc: Exception) -> Template:
    _speak(request, await survey_language(ctx, token))
    if isinstance(exc, SurveyGone):
        return page("survey/unavailable.html", request, status_code=410, reason=exc.reason)
    return page("survey/unavailable.html", request, status_code=404, reason="unknown")


@get("/survey/{token:str}", exclude_from_auth=True, include_in_schema=False)
async def survey_form(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], token: FromPath[str]) -> Template:
    try:
        view = await check_survey(ctx, token)
    except (NotFound, SurveyGone) as exc:
        return await _unavailable(request, ctx, token, exc)
    _speak(request, view.language)
    return page("survey/form.html", request, view=view, token=token, error=None, rating=None, comment="",
                max_comment=MAX_COMMENT)


@post("/survey/{token:str}", exclude_from_auth=True, include_in_schema=False, status_code=200)
async def survey_answer(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], token: FromPath[str],
    data: URLEncodedBody[SurveyForm],
) -> Template:
    try:
        view = await check_survey(ctx, token)
    except (NotFound, SurveyGone) as exc:
        return await _unavailable(request, ctx, token, exc)
    _speak(request, view.language)
    rating = int(data.rating) if data.rating.strip() in {"1", "2", "3", "4", "5"} else None
    if rating is None:
        return page("survey/form.html", request, status_code=422, view=view, token=token, error="rating",
                    rating=None, comment=data.comment[:MAX_COMMENT], max_comment=MAX_COMMENT)
    try:
        await do_answer_survey(ctx, token, rating, data.comment)
    except (NotFound, SurveyGone) as exc:  # answered in another tab a moment ago
        return await _unavailable(request, ctx, token, exc)
    except Invalid:
        return page("survey/form.html", request, status_code=422, view=view, token=token, error="rating",
                    rating=None, comment=data.comment[:MAX_COMMENT], max_comment=MAX_COMMENT)
    return page("survey/thanks.html", request, view=view)


ROUTES = [survey_form, survey_answer]
