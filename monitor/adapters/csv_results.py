"""CSV results with the documented header (README "Lab results in").

`mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession`: one result
per row; `analyte_or_loinc` is one of our analyte names or a code from `[codes]`;
`collected_on` is YYYY-MM-DD; the last four columns may be empty. The identity columns `dob`
(YYYY-MM-DD) and `family_name` may follow, either or both, in either order; empty cells are not
compared (`domain.patient_match`). Any other header is refused whole. A row that cannot be read
becomes a Problem whose raw text is the header plus that row, so a retry can read it alone.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date

from monitor.adapters import limits
from monitor.domain.codes import ANALYTE_SYSTEM, Code, names_analyte
from monitor.domain.vocabulary import ResultStatus
from monitor.services.results.incoming import Incoming, Parsed, Problem, stated_patient

FORMAT = "csv"
HEADER = (
    "mrn",
    "analyte_or_loinc",
    "value",
    "unit",
    "collected_on",
    "ref_low",
    "ref_high",
    "source",
    "accession",
)
IDENTITY_COLUMNS = ("dob", "family_name")


def looks_like_csv(text: str) -> bool:
    first = text.lstrip("\ufeff").split("\n", 1)[0].strip().lower()
    return first.replace(" ", "").startswith("mrn,analyte_or_loinc")


def parse_csv(text: str, *, source: str | None = None) -> list[Parsed]:
    """Every row of a results CSV; a wrong header is one whole-file Problem."""
    default_source = source or "csv"
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error as error:
        return [Problem(f"unreadable CSV ({error})", default_source, FORMAT, text, True)]
    columns = _columns(tuple(cell.strip().lower() for cell in rows[0]) if rows else ())
    if columns is None:
        reason = (
            f"CSV header must be {','.join(HEADER)}, optionally followed by "
            f"{' and/or '.join(IDENTITY_COLUMNS)} (each once)"
        )
        return [Problem(reason, default_source, FORMAT, text, whole_message=True)]
    if len(rows) - 1 > limits.MAX_CSV_ROWS:
        reason = limits.too_many("the file", len(rows) - 1, limits.MAX_CSV_ROWS, "rows")
        return [Problem(reason, default_source, FORMAT, text, whole_message=True)]
    items: list[Parsed] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        raw = _raw(columns, row)
        try:
            items.append(_row(columns, row, source, raw))
        except ValueError as error:
            items.append(Problem(f"row {number}: {error}", source or _cell(row, 7) or "csv",
                                 FORMAT, raw))  # fmt: skip
    return items


def _columns(header: tuple[str, ...]) -> tuple[str, ...] | None:
    """The file's columns: exactly HEADER, or HEADER then identity columns; None otherwise."""
    extra = header[len(HEADER) :]
    if header[: len(HEADER)] != HEADER or len(set(extra)) != len(extra):
        return None
    return header if set(extra) <= set(IDENTITY_COLUMNS) else None


def _row(columns: tuple[str, ...], row: list[str], source: str | None, raw: str) -> Incoming:
    if len(row) != len(columns):
        raise ValueError(f"{len(row)} columns, expected {len(columns)}")
    cell = dict(zip(columns, (c.strip() for c in row), strict=True))
    mrn, code = cell["mrn"], cell["analyte_or_loinc"]
    system = ANALYTE_SYSTEM if names_analyte(code) else ""
    row_source = source or cell["source"] or "csv"
    mrns = (mrn,) if mrn else ()
    return Incoming(
        mrns=mrns,
        codes=(Code(system, code),),
        value=cell["value"],
        unit=cell["unit"] or None,
        collected_on=_date(cell["collected_on"]),
        collected_at=None,
        status=ResultStatus.FINAL,
        source=row_source,
        format=FORMAT,
        raw=raw,
        accession=cell["accession"] or None,
        ref_low=_bound(cell["ref_low"], "ref_low"),
        ref_high=_bound(cell["ref_high"], "ref_high"),
        stated=stated_patient(
            mrns,
            cell.get("dob", ""),
            (cell.get("family_name", ""),),
            (row_source, FORMAT, raw),
        ),
    )


def _date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"collected_on {text!r} is not a date as YYYY-MM-DD") from None


def _bound(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} {text!r} is not a finite number")
    return number


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _raw(columns: tuple[str, ...], row: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow(row)
    return out.getvalue()
