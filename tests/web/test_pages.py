"""Every page renders for a signed-in nurse, shows what it should, escapes what it shows,
and honours its filters; the Today CSV has the whole list."""

from __future__ import annotations

import csv
import io

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from monitor.store.db import unit_of_work
from monitor.store.models import QuarantineItem
from monitor.web.app import QuietErrors
from tests.web.clinic import NOW, XSS_NAME, Clinic
from tests.web.conftest import sign_in


def test_today_lists_flags_overdue_unreachable_and_this_week(
    nurse: TestClient, clinic: Clinic
) -> None:
    page = nurse.get("/").text
    alerts, rest = page.split('id="overdue"')
    assert "Alex Rivers" in alerts and "urgent" in alerts
    overdue, rest = rest.split('id="unreachable"')
    assert overdue.index("Alex Rivers") < overdue.index("Robin Hale"), "flagged patients first"
    unreachable, week = rest.split('id="week"')
    assert "Robin Hale" in unreachable and "no email address on file" in unreachable
    assert "Sam Moss" in week and "Sam Moss" not in overdue


def test_a_result_that_fired_several_rules_is_one_row_with_every_rule(
    nurse: TestClient, clinic: Clinic
) -> None:
    """Alex's platelets 80 after 250: an urgent low count and a review for the fall."""
    alerts = nurse.get("/").text.split('id="alerts"')[1].split('id="overdue"')[0]
    flags = nurse.get("/flags").text.split("<tbody>")[1]
    patient = nurse.get(f"/patients/{clinic.alex}").text.split('id="flags"')[1]
    for shown in (alerts, flags, patient):
        assert shown.count("platelets 80") == 1
        assert shown.count('class="finding"') >= 2
        assert "sev-urgent" in shown and "sev-review" in shown
    assert flags.count("/acknowledge") == patient.split("</section>")[0].count("/acknowledge")


def test_a_script_in_a_name_is_shown_as_text(nurse: TestClient, clinic: Clinic) -> None:
    for path in ("/", f"/patients/{clinic.probe}", "/flags?status="):
        page = nurse.get(path).text
        assert XSS_NAME not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in nurse.get("/").text


def test_today_filters_by_site_and_panel(nurse: TestClient, clinic: Clinic) -> None:
    north = nurse.get("/?site=north").text.split('id="unreachable"')[0]
    assert "Robin Hale" in north and "Alex Rivers</a>" not in north.split('id="overdue"')[1]
    tsh = nurse.get("/?panel=tsh").text.split('id="overdue"')[1].split('id="unreachable"')[0]
    assert "tsh ·" in tsh and "cbc ·" not in tsh
    assert nurse.get("/?site=nowhere&panel=bogus").status_code == 200


def test_the_csv_has_one_row_per_overdue_test(nurse: TestClient, clinic: Clinic) -> None:
    response = nurse.get("/today.csv?site=north")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and {row["site"] for row in rows} == {"north"}
    assert {row["mrn"] for row in rows} == {clinic.probe, clinic.robin}
    assert all(int(row["days_overdue"]) > 0 for row in rows)


def test_the_patient_page_shows_record_grid_charts_and_emails(
    nurse: TestClient, clinic: Clinic
) -> None:
    page = nurse.get(f"/patients/{clinic.alex}").text
    for part in (
        "Alex Rivers",
        "Open flags",
        'data-status="overdue"',
        'data-status="done"',
        '<svg class="chart"',
        'class="infusion"',
        'class="band"',
        "staff-urgent-flag",
    ):
        assert part in page, part
    assert page.count('<svg class="chart"') == 5, "platelets, neutrophils, creatinine, TSH, ALT"
    assert page.count('class="treatment-grid"') == 1, "alemtuzumab only: one section"
    assert 'data-event="infusion"' in page and "Alemtuzumab (Lemtrada)" in page


def test_an_unknown_patient_is_404(nurse: TestClient, clinic: Clinic) -> None:
    assert nurse.get("/patients/NOPE").status_code == 404


def test_flags_filter_by_status_and_severity(nurse: TestClient, clinic: Clinic) -> None:
    assert "Alex Rivers" in nurse.get("/flags").text
    assert "Alex Rivers" not in nurse.get("/flags?status=acknowledged").text
    assert "urgent" in nurse.get("/flags?severity=urgent").text


def test_quarantine_lists_what_could_not_be_taken_in(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    with unit_of_work(engine) as session:
        session.add(
            QuarantineItem(
                source="lab-a",
                format="hl7",
                received_at=NOW,
                reason="unknown MRN",
                raw="MSH|^~\\&|",
            )
        )
    page = nurse.get("/quarantine").text
    assert "unknown MRN" in page and "lab-a" in page
    assert "unknown MRN" not in nurse.get("/quarantine?status=dropped").text


def test_the_outbox_lists_emails_for_an_admin(admin: TestClient, clinic: Clinic) -> None:
    rows = admin.get("/outbox?status=skipped").text.split("<tbody>")[1]
    assert "no email address on file" in rows
    assert "staff-urgent-flag" not in rows
    assert "staff-urgent-flag" in admin.get("/outbox").text.split("<tbody>")[1]


def test_the_audit_filters_by_patient_through_the_path(nurse: TestClient, clinic: Clinic) -> None:
    response = nurse.get(f"/audit?mrn={clinic.alex}&action=course.add")
    assert response.status_code == 303
    assert response.headers["location"] == f"/audit/patients/{clinic.alex}?action=course.add"
    page = nurse.get(response.headers["location"]).text
    assert "course.add" in page and "patient.add" not in page.split("<tbody>")[1]
    assert "user.login" in nurse.get("/audit?action=user.login").text


def test_an_unexpected_error_shows_a_plain_page(app: Starlette) -> None:
    def broken(request: Request) -> Response:
        raise RuntimeError("boom, with a patient's name")

    app.router.routes.insert(0, Route("/broken", broken))
    with TestClient(QuietErrors(app), follow_redirects=False) as client:  # nothing re-raised
        sign_in(client)
        response = client.get("/broken")
    assert response.status_code == 500
    assert "nothing was changed" in response.text and "boom" not in response.text
