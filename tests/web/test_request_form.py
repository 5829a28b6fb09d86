"""The patient page's lab request form: a link for signed-in staff, the PDF behind it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from starlette.testclient import TestClient

from monitor.services.people.patients import add_patient
from monitor.store.db import unit_of_work
from tests.notify.test_pdf import page_count, pdf_text
from tests.web.clinic import NOW, Clinic


def test_the_patient_page_links_the_form_and_the_link_gives_the_pdf(
    nurse: TestClient, clinic: Clinic, tmp_path: Path
) -> None:
    page = nurse.get(f"/patients/{clinic.sam}").text
    link = f'href="/patients/{clinic.sam}/request-form.pdf"'
    assert link in page
    response = nurse.get(f"/patients/{clinic.sam}/request-form.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="request-form-{clinic.sam}.pdf"' in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    text = pdf_text(response.content, tmp_path)
    assert "Sam Moss" in text and clinic.sam in text and "1990-07-09" in text
    assert "platelets" in text and "777-3" in text
    assert page_count(response.content, tmp_path) == 1


def test_signed_out_the_form_is_not_given(client: TestClient, clinic: Clinic) -> None:
    response = client.get(f"/patients/{clinic.sam}/request-form.pdf")
    assert response.status_code in (303, 302, 401)
    assert b"%PDF" not in response.content


def test_nothing_due_and_unknown_patients_say_so(
    nurse: TestClient, clinic: Clinic, engine: Engine, config
) -> None:
    with unit_of_work(engine, config.catalogue) as session:
        add_patient(
            session, mrn="Z9", name="Quiet Patient", email=None, born_on=None, sex=None,
            site="main", actor="test", now=NOW,
        )  # fmt: skip
    nothing = nurse.get("/patients/Z9/request-form.pdf")
    assert nothing.status_code == 404
    assert "Z9 has no lab tests overdue or due by" in nothing.text
    assert nurse.get("/patients/NOPE/request-form.pdf").status_code == 404
