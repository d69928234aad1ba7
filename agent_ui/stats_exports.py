"""The statistics as tables a spreadsheet opens: CSV (`table=daily|agents|topics|entry_points`)
and XLSX.

Headers are in the manager's language and durations in minutes. A Catalan or Spanish Excel
splits CSV on `;` and reads `1,5` as a number, and needs a byte-order mark to read UTF-8: so
ca/es get `;`, decimal commas and a BOM; English gets `,` and decimal points. The XLSX holds
the same tables, one sheet each, with real numbers. Text cells (agent and topic names, which
people type) go through the shared formula escaping of `hub.cells`.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from agent_ui.i18n import translate
from hub.cells import safe_cell
from hub.stats import Cell, Duration, Stats, figures_of

Table = tuple[list[str], list[list[Any]]]  # headers, rows
TABLES = ("daily", "agents", "topics", "entry_points")


def _minutes(seconds: float | int | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 2)


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


def _duration_columns(r: Any) -> list[str]:
    return [translate(r, "Wait in queue, median (min)"), translate(r, "Wait in queue, 90 % within (min)"),
            translate(r, "First response, median (min)"), translate(r, "First response, 90 % within (min)"),
            translate(r, "Resolution, median (min)"), translate(r, "Resolution, 90 % within (min)")]


def _durations(d: Duration) -> list[Any]:
    return [_minutes(d.median_s), _minutes(d.p90_s)]


def daily_table(r: Any, day_cells: dict[tuple[date, str, str], Cell], date_from: date, date_to: date,
                channels: list[str], channel_names: dict[str, str]) -> Table:
    """One row per office day x channel (zeros included, so every day is there)."""
    headers = [translate(r, "Day"), translate(r, "Channel"), translate(r, "Consultations"),
               translate(r, "Resolved consultations"),
               translate(r, "WhatsApp abandoned"), translate(r, "Abandonment rate (%)"), *_duration_columns(r),
               translate(r, "Surveys sent"), translate(r, "Survey answers"), translate(r, "Satisfaction (1–5)")]
    per: dict[tuple[date, str], dict[str, Cell]] = {}
    for (day, ch, metric), cell in day_cells.items():
        per.setdefault((day, ch), {})[metric] = cell
    rows = []
    day = date_from
    while day <= date_to:
        for ch in channels:
            f = figures_of(per.get((day, ch), {}))
            rows.append([
                day, channel_names.get(ch, ch), f.consultations, f.handled, f.abandoned, _percent(f.abandon_rate),
                *_durations(f.wait), *_durations(f.first_response), *_durations(f.resolution),
                f.surveys_sent, f.surveys_answered, f.satisfaction_average,
            ])
        day = date.fromordinal(day.toordinal() + 1)
    return headers, rows


def agents_table(r: Any, stats: Stats) -> Table:
    headers = [translate(r, "Agent"), translate(r, "Resolved consultations"), translate(r, "Transfers received"),
               *_duration_columns(r), translate(r, "Survey answers"), translate(r, "Satisfaction (1–5)")]
    rows = [[a.name, a.figures.handled, a.figures.transfers, *_durations(a.figures.wait),
             *_durations(a.figures.first_response), *_durations(a.figures.resolution),
             a.figures.surveys_answered, a.figures.satisfaction_average] for a in stats.by_agent]
    return headers, rows


def topics_table(r: Any, stats: Stats, language: str) -> Table:
    headers = [translate(r, "Topic"), translate(r, "Consultations"), translate(r, "Resolved consultations"),
               translate(r, "Wait in queue, average (min)"), translate(r, "Resolution, average (min)"),
               translate(r, "Survey answers"), translate(r, "Satisfaction (1–5)")]
    rows = []
    for topic in stats.by_topic:
        name = topic.names.get(language) or topic.names.get("ca") or topic.key
        rows.append([name, topic.consultations, topic.resolved,
                     _minutes(topic.wait.average_s), _minutes(topic.resolution.average_s),
                     topic.surveys_answered, topic.satisfaction_average])
    return headers, rows


def entry_points_table(r: Any, stats: Stats, topic_names: dict[int, str]) -> Table:
    headers = [translate(r, "Entry point"), translate(r, "Topic"), translate(r, "Consultations"),
               translate(r, "Resolved consultations"), translate(r, "Wait in queue, average (min)"),
               translate(r, "Resolution, average (min)"), translate(r, "Survey answers"),
               translate(r, "Satisfaction (1–5)")]
    rows = [[e.label, topic_names.get(e.topic_id, "") if e.topic_id else "", e.consultations, e.resolved,
             _minutes(e.wait.average_s), _minutes(e.resolution.average_s), e.surveys_answered,
             e.satisfaction_average] for e in stats.by_entry_point]
    return headers, rows


def _csv_value(value: Any, decimal_comma: bool) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return text.replace(".", ",") if decimal_comma else text
    if isinstance(value, date):
        return value.isoformat()
    return safe_cell(value)


def to_csv(table: Table, language: str) -> bytes:
    """The table as CSV bytes: `;`, decimal commas and a UTF-8 BOM for ca/es; `,` otherwise."""
    european = language in ("ca", "es")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if european else ",", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    headers, rows = table
    writer.writerow([safe_cell(h) for h in headers])
    for row in rows:
        writer.writerow([_csv_value(v, european) for v in row])
    text = buffer.getvalue()
    return ("\ufeff" + text).encode("utf-8") if european else text.encode("utf-8")


def to_xlsx(sheets: list[tuple[str, Table]]) -> bytes:
    """One sheet per table; numbers stay numbers, dates dates, text is escaped and typed as text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for title, (headers, rows) in sheets:
        sheet = book.create_sheet(_sheet_title(title))
        sheet.append([safe_cell(h) for h in headers])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        # Typed cell by cell as they are appended: `sheet.max_row` and `sheet[n]` walk every cell
        # of the sheet, which made a year's daily sheet quadratic (2 s for 1,100 rows).
        for number, row in enumerate(rows, start=2):
            sheet.append([safe_cell(v) if isinstance(v, str) else v for v in row])
            for column, value in enumerate(row, start=1):
                if isinstance(value, str):
                    sheet.cell(number, column).data_type = "s"  # never a formula, whatever the text
                elif isinstance(value, date):
                    sheet.cell(number, column).number_format = "yyyy-mm-dd"
        sheet.freeze_panes = "A2"
        for i, header in enumerate(headers, start=1):
            sheet.column_dimensions[sheet.cell(1, i).column_letter].width = max(10, min(40, len(header) + 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    """Excel allows 31 characters and none of []:*?/\\ in a sheet's name."""
    return "".join(c for c in title if c not in "[]:*?/\\")[:31] or "Sheet"
