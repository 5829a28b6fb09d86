"""Writing a `services.exports.Sheet` as CSV or as an .xlsx workbook (openpyxl).

Formula injection: a spreadsheet runs a CSV cell that starts with `=`, `+`, `-` or `@` (or a
tab or carriage return before one) as a formula, and a name, note or phone is typed by people.
Every text cell of a CSV that starts so is written with a leading apostrophe (`safe_cell`;
numbers and dates are not text and are left alone). In an .xlsx the cell's type says what it
is: text is stored as a string cell, never as a formula, so it keeps its exact characters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from monitor.adapters.cells import safe_cell
from monitor.services.exports import Cell, Sheet

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_TITLE_LENGTH = 31  # Excel's limit on a sheet's name
_WIDEST_COLUMN = 60


def csv_text(sheet: Sheet) -> str:
    """The sheet as CSV: a header row, then its rows; dates as YYYY-MM-DD, None as empty."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(sheet.columns)
    for row in sheet.rows:
        writer.writerow([_csv_cell(value) for value in row])
    return out.getvalue()


def _csv_cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return safe_cell(value)
    return value


def xlsx_bytes(sheet: Sheet) -> bytes:
    """The sheet as one worksheet of an .xlsx workbook, header row frozen, dates as dates."""
    book = Workbook()
    worksheet = book.active
    assert isinstance(worksheet, Worksheet)
    worksheet.title = sheet.title[:_TITLE_LENGTH]
    worksheet.append(list(sheet.columns))
    for number, row in enumerate(sheet.rows, start=2):
        for column, value in enumerate(row, start=1):
            cell = worksheet.cell(row=number, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl reads "=..." as a formula otherwise
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
    worksheet.freeze_panes = "A2"
    _fit_columns(worksheet, sheet.columns, sheet.rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fit_columns(
    worksheet: Worksheet, columns: Sequence[str], rows: Sequence[Sequence[Cell]]
) -> None:
    """Columns as wide as their longest cell among the first rows (capped)."""
    dimensions = worksheet.column_dimensions
    for index, name in enumerate(columns):
        widest = max([len(name), *(len(str(row[index] or "")) for row in rows[:500])])
        dimensions[get_column_letter(index + 1)].width = min(widest + 2, _WIDEST_COLUMN)


def encoded(sheet: Sheet, fmt: str) -> bytes:
    """The sheet in `fmt` ("csv" as UTF-8, or "xlsx")."""
    if fmt == "csv":
        return csv_text(sheet).encode("utf-8")
    if fmt == "xlsx":
        return xlsx_bytes(sheet)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
