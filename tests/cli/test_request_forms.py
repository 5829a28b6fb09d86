"""`monitor request-form` and `monitor request-forms`: the PDF read back with pdftotext."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.domain.codes import DEFAULT_LOINC
from tests.conftest import CLINIC_TOML
from tests.notify.test_pdf import page_count, pdf_text
from tests.services.clinic import enrol

# COURSE is 6-10 January 2025: on 1 April the March monthly tests (due 10 March) are overdue and
# the thyroid test falls due on 10 April; the skin check (no LOINC code) is overdue too.
ON = "2025-04-01"
LAB_ANALYTES = (
    "platelets", "neutrophils", "hemoglobin", "creatinine", "urine_rbc", "urine_protein",
    "tsh", "alt", "bilirubin",
)  # fmt: skip


@pytest.fixture
def clinic(cli, engine: Engine, tmp_path: Path):
    (tmp_path / "config.toml").write_text(CLINIC_TOML)
    enrol(engine, "M1", name="Alex Morgan")
    enrol(engine, "M2", name="Grace Hopper", born_on=date(1975, 5, 6))
    enrol(engine, "M3", name="Nobody Due", course=False)
    return cli


def codes_of(analyte: str) -> list[str]:
    return [code for code, name in DEFAULT_LOINC.items() if name == analyte]


def test_the_form_names_the_patient_every_analyte_and_its_loinc_codes(clinic, tmp_path) -> None:
    out = clinic.ok("request-form", "M1", "--on", ON, "--out", "m1.pdf")
    assert "m1.pdf" in out
    pdf = (tmp_path / "m1.pdf").read_bytes()
    text = pdf_text(pdf, tmp_path)
    for shown in ("Alex Morgan", "M1", "1980-01-02", "Test MS Clinic", "0100 000 0000"):
        assert shown in text
    for analyte in LAB_ANALYTES:
        assert analyte in text
        for code in codes_of(analyte):
            assert code in text, (analyte, code)
    assert "Monday 10 March 2025" in text and "overdue" in text  # the due-by date
    assert "Thursday 10 April 2025" in text  # the thyroid test, due within the fortnight
    assert "Signature" in text
    for never in ("alemtuzumab", "Lemtrada", "skin_exam", "cervical"):
        assert never.lower() not in text.lower()
    assert page_count(pdf, tmp_path) == 1


def test_a_fortnight_ahead_leaves_out_what_falls_due_later(clinic, tmp_path) -> None:
    """With 7 days from 1 April the thyroid test of 10 April is not due yet (its baseline is
    missed: the next window opened on 27 March)."""
    clinic.ok("request-form", "M1", "--on", ON, "--due-within", "7", "--out", "a.pdf")
    text = pdf_text((tmp_path / "a.pdf").read_bytes(), tmp_path)
    assert "platelets" in text and "tsh" not in text


def test_nothing_due_is_a_clear_error_and_writes_no_file(clinic, tmp_path) -> None:
    result = clinic("request-form", "M3", "--on", ON, "--out", "none.pdf")
    assert result.code == 2
    assert "M3 has no lab tests overdue or due by 2025-04-15" in result.err
    assert not (tmp_path / "none.pdf").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("request-form", "NOPE"), "unknown MRN 'NOPE'"),
        (("request-form", "M1", "--on", "2025-02-30"), "--on '2025-02-30' is not a date"),
        (("request-form", "M1", "--due-within", "-1"), "--due-within -1 must be from 0 to 92"),
        (("request-forms", "--due-within", "400"), "--due-within 400 must be from 0 to 92"),
        (("request-form", "M1", "--out", "no/such/dir/x.pdf"), "--out no/such/dir/x.pdf"),
    ],
)
def test_bad_input_exits_2_naming_it(clinic, args, message) -> None:
    result = clinic(*args)
    assert result.code == 2, result.err
    assert message in result.err


def test_bulk_forms_one_page_per_due_patient_in_mrn_order(clinic, tmp_path) -> None:
    out = clinic.ok("request-forms", "--due-within", "14", "--on", ON, "--out", "all.pdf")
    assert "2 request forms" in out
    pdf = (tmp_path / "all.pdf").read_bytes()
    assert page_count(pdf, tmp_path) == 2
    text = pdf_text(pdf, tmp_path)
    assert text.index("Alex Morgan") < text.index("Grace Hopper")
    assert "1975-05-06" in text and "Nobody Due" not in text


def test_bulk_forms_for_one_site_and_for_nobody(clinic, tmp_path) -> None:
    out = clinic.ok("request-forms", "--site", "elsewhere", "--on", ON, "--out", "x.pdf")
    assert "no patient has lab tests overdue or due within 14 days" in out
    assert not (tmp_path / "x.pdf").exists()
    clinic.ok("request-forms", "--site", "main", "--on", ON)
    assert page_count((tmp_path / f"request-forms-{ON}.pdf").read_bytes(), tmp_path) == 2


def test_an_unset_clinic_name_or_phone_is_warned_about(cli, engine: Engine) -> None:
    enrol(engine, "M1")
    result = cli("request-form", "M1", "--on", ON, "--out", "m1.pdf")
    assert result.code == 0
    assert "clinic.name is the shipped placeholder" in result.err
    assert "clinic.phone is the shipped placeholder" in result.err
