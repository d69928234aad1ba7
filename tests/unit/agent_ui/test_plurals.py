"""Counts read as sentences in every language (issue 14): what agents, managers and citizens
see with a number uses the catalogue's singular and plural (ngettext), never a fixed plural
("1 open consultations"). Scans the templates and the Python texts, then renders each count
with 1 and with 2 in Catalan, Spanish and English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import DictLoader, Environment

from agent_ui import i18n

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*(ROOT / "agent_ui" / "templates").rglob("*.html"), *(ROOT / "agent_ui").glob("*.py")]
# a count placeholder followed by a plural noun, in a plain (non-plural) message
FIXED_PLURAL = re.compile(r'(?<!ngettext\()(?<!N_\()(?:_|translate\([a-z]+,)\s*\(?\s*["\']%\((?:n|num|count|total)\)[sd] '
                          r'(?:[a-z]+ )?(?:consultations|tickets|messages|calls|agents|minutes|hours|days|answers|files|'
                          r'surveys|contacts|replies|notes)\b')
PLURAL_CALL = re.compile(r'ngettext\(\s*"([^"]+)",\s*"([^"]+)"')


def test_no_count_is_shown_with_a_fixed_plural() -> None:
    fixed = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in SOURCES for m in FIXED_PLURAL.finditer(p.read_text())]
    assert fixed == []


def plural_messages() -> list[tuple[str, str]]:
    found = {m.groups() for p in SOURCES for m in PLURAL_CALL.finditer(p.read_text())}
    assert ("%(num)d open consultation", "%(num)d open consultations") in found
    assert ("%(num)d recent call", "%(num)d recent calls") in found
    return sorted(found)


@pytest.mark.parametrize("lang", ["ca", "es", "en"])
def test_every_count_reads_right_with_one_and_with_two(lang: str) -> None:
    env = Environment(loader=DictLoader({}), autoescape=True)
    i18n.install(env)
    wrong = []
    for singular, plural in plural_messages():
        page = env.from_string("{{ ngettext(s, p, n) }}")
        one, two = (page.render(s=singular, p=plural, n=n, lang=lang) for n in (1, 2))
        if "%(num)d" in singular and ("1" not in one or "2" not in two):
            wrong.append((lang, singular, one, two))
        if one.replace("1", "") == two.replace("2", ""):
            wrong.append((lang, singular, one, two))  # the same words for one and for two
        if lang != "en" and two == plural.replace("%(num)d", "2"):
            wrong.append((lang, singular, one, two))  # English for two (the catalogue's plural forms)
    assert wrong == []


@pytest.mark.parametrize(("lang", "one", "two"), [
    ("ca", "1 consulta oberta", "2 consultes obertes"), ("es", "1 consulta abierta", "2 consultas abiertas"),
    ("en", "1 open consultation", "2 open consultations"),
])
def test_the_ringing_call_counts_the_callers_open_consultations(lang: str, one: str, two: str) -> None:
    env = Environment(loader=DictLoader({}), autoescape=True)
    i18n.install(env)
    page = env.from_string('{{ ngettext("%(num)d open consultation", "%(num)d open consultations", n) }}')
    assert page.render(n=1, lang=lang) == one and page.render(n=2, lang=lang) == two
