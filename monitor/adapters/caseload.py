"""Reading a clinic's caseload spreadsheet (CSV or .xlsx) into typed rows, one per course or
treatment (issue 14 item 1). Pure reading: the columns and their types; every rule about what a
row may hold is the services' (`services.people.onboarding`), checked before anything is written.

The format (README, "Onboarding the caseload"; a template in `examples/`):

* a header row; names are case-insensitive, surrounding spaces ignored; a column the format does
  not know is an error naming it, and so is a missing `mrn` or `name` column, or a file with
  neither `course_dates` nor `started_on`;
* `mrn, name, dob, sex, site, email, phone, address, channel`: the patient (every row of one MRN
  must agree); a blank cell is "not given" (`site` then defaults to `main`);
* `course_dates`: the infusion dates of one course, separated by `;` (under `protocol`, default
  alemtuzumab); or `protocol, started_on, stopped_on`: one continuous treatment (SPEC §10);
* `address`: the lines of a postal address, separated by line breaks inside the cell or by
  ` | ` (both are read as line breaks);
* dates are YYYY-MM-DD (an .xlsx date cell is read as its date); line numbers are the file's
  (the header is line 1; in a CSV a quoted cell may span lines: a row's number is its first).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zipfile import BadZipFile

from monitor.domain.dates import checked_date
from monitor.errors import InvalidInput
from monitor.services.people.onboarding import ALL_COLUMNS, CaseloadRow, RowError

MAX_ROWS = 200_000  # a clinic's caseload is thousands; a bigger file is not one
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ADDRESS_SEPARATOR = "|"
SUFFIXES = (".csv", ".txt", ".xlsx")


@dataclass
class CaseloadFile:
    """The rows read, and the rows that could not be read (with their line numbers)."""

    rows: list[CaseloadRow] = field(default_factory=list)
    problems: list[RowError] = field(default_factory=list)


def read_caseload(path: Path) -> CaseloadFile:
    """Read a .csv or .xlsx caseload; InvalidInput for a file that is not one (its header)."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput(f"{path.name}: give a .csv or .xlsx file")
    return read_named(path.name, path.read_bytes())


def read_named(name: str, data: bytes) -> CaseloadFile:
    """A caseload by its file name's suffix (.xlsx, else CSV as UTF-8): an upload's bytes."""
    if name.lower().endswith(".xlsx"):
        return read_xlsx_bytes(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name[:80]} is not UTF-8 text (save the CSV as UTF-8)") from None
    return read_csv_text(text)


def read_csv_text(text: str) -> CaseloadFile:
    return read_rows(_csv_rows(text))


def read_xlsx_bytes(data: bytes) -> CaseloadFile:
    return read_rows(_xlsx_rows(io.BytesIO(data)))


def _csv_rows(text: str) -> Iterator[tuple[int, list[object]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for cells in reader:
            yield line, list(cells)
            line = reader.line_num + 1
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: not a CSV row ({error})") from None


def _xlsx_rows(source: Path | io.BytesIO) -> Iterator[tuple[int, list[object]]]:
    from openpyxl import load_workbook  # a second or so to import: only when asked
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, OSError, KeyError, ValueError):
        raise InvalidInput("the file is not an .xlsx workbook") from None
    try:
        sheet = workbook.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(cells)
    finally:
        workbook.close()


def read_rows(rows: Iterator[tuple[int, list[object]]]) -> CaseloadFile:
    """The typed rows under the header (the first non-blank row)."""
    found = CaseloadFile()
    header: list[str] | None = None
    for line, cells in rows:
        values = [_text(cell) for cell in cells]
        if not any(values):
            continue
        if header is None:
            header = _header(values)
            continue
        if len(found.rows) + len(found.problems) >= MAX_ROWS:
            raise InvalidInput(f"the file has more than {MAX_ROWS:,} rows")
        if len(values) > len(header) and any(values[len(header) :]):
            found.problems.append(RowError(line, values[0], "has more cells than the header"))
            continue
        record = dict(zip(header, values, strict=False))
        try:
            found.rows.append(_row(line, record, cells, header))
        except InvalidInput as error:
            found.problems.append(RowError(line, record.get("mrn", ""), str(error)))
    if header is None:
        raise InvalidInput("the file is empty: it needs a header row and one row per course")
    return found


def _header(values: list[str]) -> list[str]:
    names = [value.strip().lower() for value in values]
    while names and not names[-1]:
        names.pop()
    unknown = [name or "(blank)" for name in names if name not in ALL_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(ALL_COLUMNS)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidInput(f"column(s) {', '.join(repeated)} appear more than once")
    missing = [name for name in ("mrn", "name") if name not in names]
    if missing:
        raise InvalidInput(f"the file has no {' or '.join(missing)} column")
    if "course_dates" not in names and "started_on" not in names:
        raise InvalidInput("the file needs a course_dates column, or protocol and started_on")
    return names


def _row(line: int, record: dict[str, str], cells: list[object], header: list[str]) -> CaseloadRow:
    raw = dict(zip(header, cells, strict=False))

    def given(name: str) -> str | None:
        return record.get(name) or None

    return CaseloadRow(
        line=line,
        mrn=record.get("mrn", ""),
        name=record.get("name", ""),
        born_on=_date(raw.get("dob"), record.get("dob", ""), "dob"),
        sex=sex.upper() if (sex := given("sex")) else None,
        site=given("site"),
        email=given("email"),
        phone=given("phone"),
        address=_address(given("address")),
        channel=given("channel"),
        protocol=given("protocol"),
        course_dates=_course_dates(record.get("course_dates", "")),
        started_on=_date(raw.get("started_on"), record.get("started_on", ""), "started_on"),
        stopped_on=_date(raw.get("stopped_on"), record.get("stopped_on", ""), "stopped_on"),
    )


def _text(cell: object) -> str:
    """A cell as text: an integral number without `.0` (an MRN typed as a number)."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    return str(cell).strip()


def _date(cell: object, text: str, column: str) -> date | None:
    if isinstance(cell, datetime | date):  # an .xlsx date cell
        day = cell.date() if isinstance(cell, datetime) else cell
        return checked_date(day, column)
    return parse_day(text, column) if text else None


def parse_day(text: str, column: str) -> date:
    """A strict YYYY-MM-DD date in the supported calendar, or InvalidInput naming the column."""
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{column} {text[:40]!r} is not a date as YYYY-MM-DD") from None
    return checked_date(day, column)


def _course_dates(text: str) -> tuple[date, ...]:
    return tuple(
        parse_day(part.strip(), "course_dates") for part in text.split(";") if part.strip()
    )


def _address(text: str | None) -> str | None:
    if text is None:
        return None
    lines = (line.strip() for line in text.replace(ADDRESS_SEPARATOR, "\n").splitlines())
    return "\n".join(line for line in lines if line)
