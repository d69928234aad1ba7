"""The web UI's own translations (Catalan default, Spanish, English) and the request's language.

Messages are English msgids in `agent_ui/locale/<lang>/LC_MESSAGES/ui.po`, compiled in memory at
start-up (no `.mo` files in git). Templates call `_("...")` (or `{% trans %}`); Python code
calls `translate(request, "...")`. The language is the logged-in agent's choice, else the
`hub_lang` cookie, else `HUB_LANGUAGE`.

Updating the catalogues after adding strings:

    .venv/bin/pybabel extract -F agent_ui/babel.cfg -k translate:2 -k translate_plural:2,3 -o agent_ui/locale/ui.pot agent_ui channels
    .venv/bin/pybabel update -i agent_ui/locale/ui.pot -d agent_ui/locale -D ui --no-fuzzy-matching
    (then translate the new entries in ca/ and es/; en/ may stay empty: the msgid is English)
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import pass_context

from hub.config import LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "ui"
LANGUAGE_NAMES = {"ca": "Català", "es": "Español", "en": "English"}
COOKIE = "hub_lang"


@lru_cache(maxsize=None)
def translations(language: str) -> NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def reload() -> None:
    translations.cache_clear()


def pick_language(*candidates: Any, default: str = "ca") -> str:
    for value in candidates:
        if isinstance(value, str) and value in LANGUAGES:
            return value
    return default


def request_language(connection: Any) -> str:
    """The language to answer this request in (cached on the scope)."""
    scope = connection.scope
    cached = scope.get("hub_lang")
    if cached:
        return str(cached)
    user = scope.get("user")
    settings = connection.app.state.settings
    lang = pick_language(getattr(user, "language", None), connection.cookies.get(COOKIE), default=settings.language)
    scope["hub_lang"] = lang
    return lang


def translate(connection: Any, message: str, **values: Any) -> str:
    text = translations(request_language(connection)).ugettext(message)
    return text % values if values else text


def translate_plural(connection: Any, singular: str, plural: str, n: int, **values: Any) -> str:
    """The singular or plural sentence for `n` in the request's language (`%(num)d` is n)."""
    text = translations(request_language(connection)).ungettext(singular, plural, n)
    return text % {"num": n, **values}


@pass_context
def _template_gettext(context: Any, message: str) -> str:
    request = context.get("request")
    lang = request_language(request) if request is not None else context.get("lang", "ca")
    return translations(lang).ugettext(message)


@pass_context
def _template_ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    request = context.get("request")
    lang = request_language(request) if request is not None else context.get("lang", "ca")
    return translations(lang).ungettext(singular, plural, n)


def install(env: Any) -> None:
    """Give a Jinja environment `_`, `gettext`, `ngettext` and `{% trans %}` in the request's language."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_template_gettext, _template_ngettext, newstyle=True)
