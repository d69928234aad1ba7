"""Finding 13.9: spreadsheet cells never start a formula, wherever a spreadsheet may split them.

Reproduction: `_cell` looked only at the first character, so `Molt be;=cmd|' /C calc'!A0`
became a formula cell in an Excel whose list separator is `;` (Catalan, Spanish).
"""

from __future__ import annotations

import csv
import io
import re

from hypothesis import given
from hypothesis import strategies as st

from hub.cells import csv_text, safe_cell

SEPARATORS = ",;\t|\r\n"


def pieces(text: str) -> list[str]:
    return [p.lstrip(" \t\r\n\"") for p in re.split(r"[,;\t|\r\n]", text)]


def test_the_semicolon_case_of_the_issue_is_text_in_every_piece() -> None:
    cell = safe_cell("Molt be;=cmd|' /C calc'!A0")
    assert cell == "Molt be;'=cmd|' /C calc'!A0"
    assert not any(p[:1] in "=+-@" and p for p in pieces(cell))


def test_numbers_and_plain_text_pass_unchanged() -> None:
    assert safe_cell(-3) == -3 and safe_cell(2.5) == 2.5 and safe_cell(None) == ""
    assert safe_cell("Molt bé, gràcies") == "Molt bé, gràcies"
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("\t=1") == "'=1"


@given(st.text(alphabet=st.sampled_from(list("ab =+-@\"' ") + list(SEPARATORS)), max_size=40))
def test_no_piece_of_a_safe_cell_starts_a_formula(text: str) -> None:
    cell = safe_cell(text)
    assert all(not p or p[0] not in "=+-@" for p in pieces(cell)), (text, cell)


def test_every_csv_cell_is_quoted() -> None:
    text = csv_text([("comment", 3, "Molt be;=cmd|' /C calc'!A0")])
    assert text.strip() == '"comment","3","Molt be;\'=cmd|\' /C calc\'!A0"'
    assert list(csv.reader(io.StringIO(text)))[0][2] == "Molt be;'=cmd|' /C calc'!A0"
