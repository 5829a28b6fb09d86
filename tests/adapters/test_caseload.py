"""Reading a caseload spreadsheet (`adapters.caseload`): header rules, line numbers, addresses,
and .xlsx files written by openpyxl (the template's generator, and date and number cells)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from monitor.adapters.caseload import read_caseload, read_csv_text, read_named
from monitor.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
HEADER = "mrn,name,dob,sex,site,email,phone,address,course_dates"


def test_header_names_are_case_insensitive_and_rows_typed() -> None:
    found = read_csv_text(
        " MRN ,Name,DOB,Sex,Site,Email,Phone,Address,Course_Dates\n"
        "A1,Ann Example,1980-05-04,f,main,ann@example.org,0100,1 High St | Town,"
        "2024-01-08; 2024-01-09\n"
    )
    (row,) = found.rows
    assert not found.problems
    assert (row.line, row.mrn, row.born_on, row.sex) == (2, "A1", date(1980, 5, 4), "F")
    assert row.course_dates == (date(2024, 1, 8), date(2024, 1, 9))
    assert row.address == "1 High St\nTown"


def test_an_unknown_column_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"unknown column.*nhs_number"):
        read_csv_text("mrn,name,nhs_number,course_dates\nA1,Ann,123,2024-01-08\n")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("name,course_dates", "no mrn column"),
        ("mrn,name,dob", "course_dates column, or protocol and started_on"),
        ("mrn,name,name,course_dates", "name appear more than once"),
    ],
)
def test_a_header_without_the_needed_columns_is_refused(header: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        read_csv_text(header + "\n")


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        read_csv_text("\n\n")


def test_a_bad_date_is_a_problem_of_its_line_and_the_rest_is_read() -> None:
    found = read_csv_text(
        f"{HEADER}\n"
        'A1,Ann,1980-05-04,F,main,,,"1 High St\nTown",2024-01-08\n'
        "B2,Bob,1980-13-04,M,main,,,,2024-01-08\n"
        "C3,Cat,,F,main,,,,2024-01-08;08/01/2024\n"
    )
    assert [row.mrn for row in found.rows] == ["A1"]
    assert found.rows[0].address == "1 High St\nTown"
    # A1's quoted address spans lines 2-3, so B2 is on line 4.
    assert [(p.line, p.mrn) for p in found.problems] == [(4, "B2"), (5, "C3")]
    assert "dob '1980-13-04' is not a date" in found.problems[0].reason
    assert "course_dates '08/01/2024'" in found.problems[1].reason


def test_a_row_longer_than_the_header_is_a_problem() -> None:
    found = read_csv_text("mrn,name,course_dates\nA1,Ann,2024-01-08,extra\n")
    assert found.problems[0].line == 2
    assert "more cells than the header" in found.problems[0].reason


def test_a_csv_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_named("caseload.csv", "mrn,name,course_dates\nA1,Zoë,2024-01-08\n".encode("latin-1"))


def test_a_byte_order_mark_is_ignored() -> None:
    found = read_named("c.csv", "\ufeffmrn,name,course_dates\nA1,Ann,2024-01-08\n".encode())
    assert found.rows[0].mrn == "A1"


def test_other_suffixes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "caseload.ods"
    path.write_bytes(b"x")
    with pytest.raises(InvalidInput, match=r"\.csv or \.xlsx"):
        read_caseload(path)


def test_xlsx_date_and_number_cells_are_read(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["MRN", "Name", "DOB", "Protocol", "Started_On", "Stopped_On", "Phone"])
    sheet.append([12345, "Ann Example", date(1980, 5, 4), "natalizumab", date(2024, 3, 1)])
    sheet.append([])
    sheet.append(["B2", "Bob", "1970-01-02", "natalizumab", "2024-03-01", "2025-01-01", 7700])
    path = tmp_path / "caseload.xlsx"
    workbook.save(path)

    found = read_caseload(path)

    assert not found.problems
    first, second = found.rows
    assert (first.line, first.mrn, first.born_on, first.started_on) == (
        2,
        "12345",
        date(1980, 5, 4),
        date(2024, 3, 1),
    )
    assert (second.line, second.stopped_on, second.phone) == (4, date(2025, 1, 1), "7700")


def test_a_file_named_xlsx_that_is_not_a_workbook_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"not an \.xlsx workbook"):
        read_named("caseload.xlsx", b"mrn,name\n")


def test_the_template_xlsx_reads_as_the_template_csv(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from caseload_template_xlsx import TEMPLATE, write_template_xlsx
    finally:
        sys.path.remove(str(ROOT / "examples"))
    out = write_template_xlsx(tmp_path / "template.xlsx")

    from_xlsx, from_csv = read_caseload(out), read_caseload(TEMPLATE)

    assert not from_csv.problems and not from_xlsx.problems
    assert from_xlsx.rows == from_csv.rows
    assert len(from_csv.rows) == 5
