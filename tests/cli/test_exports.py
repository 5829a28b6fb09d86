"""`monitor export` (issue 14 item 7): the overdue list with contact details as CSV and .xlsx,
the flags and the audit trail; read back with the csv module and openpyxl."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from freezegun import freeze_time
from openpyxl import load_workbook
from sqlalchemy import select

from monitor.store.db import unit_of_work
from monitor.store.models import Patient
from tests.cli.test_contacts import TODAY
from tests.cli.test_schedule_and_overdue import add_patient

FORMULA_NAME = "=cmd|' /C calc'!A0"


@pytest.fixture
def clinic(cli, engine):
    add_patient(engine, "A1", "2024-01-08")
    add_patient(engine, "B2", "2024-01-08", site="north")
    with unit_of_work(engine) as session:
        a1 = session.scalars(select(Patient).where(Patient.mrn == "A1")).one()
        a1.phone, a1.email, a1.name = "07700 900123", "a1@example.invalid", FORMULA_NAME
    return cli


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@freeze_time(TODAY)
def test_the_overdue_csv_has_the_rows_of_monitor_overdue_with_contact_details(clinic, tmp_path):
    clinic.ok("contact", "add", "A1", "--outcome", "no-answer", "--by", "Nina")
    out = tmp_path / "overdue.csv"

    printed = clinic.ok("export", "overdue", "--format", "csv", "--out", str(out))

    rows = read_csv(out)
    listed = json.loads(clinic.ok("overdue", "--json"))
    assert f"{len(listed)} row(s) written" in printed
    assert [(r["mrn"], r["panel"], r["due_on"]) for r in rows] == [
        (r["mrn"], r["panel"], r["due_on"]) for r in listed
    ]
    a1 = [r for r in rows if r["mrn"] == "A1"]
    assert {r["name"] for r in a1} == {"'" + FORMULA_NAME}  # shown as text, never run
    assert {(r["phone"], r["email"]) for r in a1} == {("07700 900123", "a1@example.invalid")}
    assert {(r["last_contact_outcome"], r["last_contact_by"]) for r in a1} == {
        ("no-answer", "Nina")
    }
    assert {r["last_contact_at"] for r in a1} == {"2024-02-20 12:00"}  # London, GMT in February
    assert {r["days_overdue"] for r in a1} == {"43", "8"}


@freeze_time(TODAY)
def test_the_overdue_xlsx_reads_back_with_openpyxl(clinic, tmp_path):
    clinic.ok(
        "contact", "add", "A1", "--outcome", "booked", "--by", "Nina", "--booked-on", "2024-02-23"
    )
    hidden, shown = tmp_path / "hidden.xlsx", tmp_path / "all.xlsx"

    clinic.ok("export", "overdue", "--format", "xlsx", "--out", str(hidden))
    clinic.ok("export", "overdue", "--format", "xlsx", "--out", str(shown), "--include-booked")

    def rows(path: Path) -> list[dict[str, object]]:
        sheet = load_workbook(path).active
        assert sheet is not None
        header = [cell.value for cell in sheet[1]]
        values = sheet.iter_rows(min_row=2, values_only=True)
        return [dict(zip(header, row, strict=True)) for row in values]

    assert {r["mrn"] for r in rows(hidden)} == {"B2"}
    every = rows(shown)
    a1 = [r for r in every if r["mrn"] == "A1"]
    assert a1 and {r["name"] for r in a1} == {FORMULA_NAME}  # a string cell, exactly as typed
    assert {r["booked_on"].date().isoformat() for r in a1} == {"2024-02-23"}  # type: ignore[union-attr]
    assert {r["days_overdue"] for r in a1} == {43, 8}
    sheet = load_workbook(shown).active
    assert sheet is not None
    names = [row[1] for row in sheet.iter_rows(min_row=2) if row[0].value == "A1"]
    assert {cell.data_type for cell in names} == {"s"}


@freeze_time(TODAY)
def test_flags_and_audit_export_as_csv(clinic, tmp_path):
    clinic.ok(
        "result", "add", "A1", "--analyte", "platelets", "--value", "80", "--unit", "10^9/L",
        "--collected", "2024-02-19",
    )  # fmt: skip
    clinic.ok("contact", "add", "A1", "--outcome", "reached", "--by", "Nina", "--note", "=1+1")
    flags, audit = tmp_path / "flags.csv", tmp_path / "audit.csv"

    clinic.ok("export", "flags", "--out", str(flags))
    clinic.ok("export", "audit", "--out", str(audit), "--format", "csv")

    flag_rows = read_csv(flags)
    listed = json.loads(clinic.ok("flags", "--all", "--json"))
    assert sorted(int(r["flag_id"]) for r in flag_rows) == sorted(f["id"] for f in listed)
    assert {(r["mrn"], r["analyte"], r["value"]) for r in flag_rows} == {("A1", "platelets", "80")}
    audit_rows = read_csv(audit)
    contact = [r for r in audit_rows if r["action"] == "contact.add"]
    assert len(contact) == 1 and contact[0]["actor"] == "Nina"
    assert json.loads(contact[0]["after"])["note"] == "=1+1"  # a JSON text cell: no formula
    assert [int(r["id"]) for r in audit_rows] == sorted(int(r["id"]) for r in audit_rows)


BAD = {
    "an unknown list": (["export", "patients", "--out", "x.csv"], "patients"),
    "an unknown format": (["export", "flags", "--format", "pdf", "--out", "x.csv"], "pdf"),
    "--as-of on flags": (
        ["export", "flags", "--as-of", "2024-02-20", "--out", "x.csv"],
        "--as-of and --include-booked are for `export overdue` only",
    ),
    "--site on audit": (["export", "audit", "--site", "main", "--out", "x.csv"], "--site"),
    "a bad --as-of": (
        ["export", "overdue", "--as-of", "20/02/2024", "--out", "x.csv"],
        "--as-of '20/02/2024' is not a date",
    ),
    "a missing folder": (["export", "overdue", "--out", "nowhere/x.csv"], "does not exist"),
    "no --out": (["export", "overdue"], "--out"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_export_options_exit_2_and_write_no_file(clinic, tmp_path, case):
    args, words = BAD[case]

    result = clinic(*args)

    assert result.code == 2, result
    assert words in result.err
    assert not (tmp_path / "x.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export-")] == []


def test_a_folder_as_out_exits_2(clinic, tmp_path):
    (tmp_path / "sheet.csv").mkdir()
    result = clinic("export", "flags", "--out", str(tmp_path / "sheet.csv"))
    assert result.code == 2 and "is a folder" in result.err
