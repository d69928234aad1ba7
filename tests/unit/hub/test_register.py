"""One register per language in everything a citizen reads (issue 14): the informal "tu" in
Catalan and "tú" in Spanish, as the WhatsApp welcome always was. Scanned: every automatic text
(`hub/locale/<lang>/LC_MESSAGES/hub.po`) and every sentence of the survey pages (their msgids
in `agent_ui/locale/<lang>/LC_MESSAGES/ui.po`). The choice is written beside the texts (the
catalogues' headers and `hub/texts.py`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
SURVEY = ROOT / "agent_ui" / "templates" / "survey"

# Markers of the register we rejected: the formal "vós"/"vostè" and "usted".
FORMAL = {
    "ca": re.compile(r"\b(vostè|vostès|vós|vostr[ae]s?|us (?:podem|atendrà|respondrà|escriurà|ajudarem)|podeu|voleu|"
                     r"heu|necessiteu|comproveu|trieu|indiqueu|expliqueu|escriviu|contacteu)\b", re.IGNORECASE),
    "es": re.compile(r"\b(usted(?:es)?|su (?:consulta|respuesta|tiempo|nombre|mensaje)|le (?:atenderá|responderá|"
                     r"escribirá|ayudaremos)|elija|compruebe|necesite|indíquenos|cuéntenos|escríbanos)\b", re.IGNORECASE),
}
INFORMAL = {"ca": re.compile(r"\b(teu|teva|et|t'|pots|ets|necessites)", re.IGNORECASE),
            "es": re.compile(r"\b(tu|te|puedes|eres|necesitas)\b", re.IGNORECASE)}


def catalogue(path: Path, lang: str) -> dict[str, str]:
    with path.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale=lang) if m.id and m.string}


def survey_msgids() -> set[str]:
    found: set[str] = set()
    for template in SURVEY.glob("*.html"):
        found |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', template.read_text()))
    assert len(found) > 10
    return found


@pytest.mark.parametrize("lang", ["ca", "es"])
def test_every_automatic_text_and_the_survey_speak_to_the_citizen_as_tu(lang: str) -> None:
    texts = catalogue(ROOT / "hub" / "locale" / lang / "LC_MESSAGES" / "hub.po", lang)
    pages = catalogue(ROOT / "agent_ui" / "locale" / lang / "LC_MESSAGES" / "ui.po", lang)
    survey = {i: pages[i] for i in survey_msgids() if i in pages}
    assert len(survey) == len(survey_msgids()), "a survey sentence is not translated"
    scanned = {**texts, **survey}
    formal = {i: s for i, s in scanned.items() if FORMAL[lang].search(s)}
    assert formal == {}
    # and the register is really used (not merely avoided): most sentences addressing the citizen
    assert sum(1 for s in scanned.values() if INFORMAL[lang].search(s)) >= 15


def test_the_choice_is_written_beside_the_texts() -> None:
    for lang in ("ca", "es"):
        header = (ROOT / "hub" / "locale" / lang / "LC_MESSAGES" / "hub.po").read_text().split("msgid")[0]
        assert "Register" in header
    assert "Register" in (ROOT / "hub" / "texts.py").read_text()
