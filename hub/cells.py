"""Cells for spreadsheets (CSV and XLSX exports): citizens' text must never run as a formula.

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@` (or a tab or carriage return before
them) as a formula. A CSV opened in a Catalan or Spanish Excel is split on `;`, not `,`, so
`Molt be;=cmd|' /C calc'!A0` becomes two cells, the second a formula: a formula start after any
separator is neutralised too (an apostrophe before it, which spreadsheets show as text). Every
CSV cell is quoted. Numbers, dates and booleans pass unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = "=+-@"
# A formula start at the beginning of the text or after any list separator or line break,
# allowing spaces and quotes in between (Excel ignores them before the formula).
_FORMULA = re.compile(r"(^|[,;\t|\r\n])([\s\"']*)([=+\-@])")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet should see it: text with no formula start anywhere it could split."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = value.lstrip("\t\r") if value[:1] in ("\t", "\r") else value
    return _FORMULA.sub(lambda m: f"{m.group(1)}{m.group(2)}'{m.group(3)}", text)


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as CSV with every cell quoted and made safe (`safe_cell`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()
