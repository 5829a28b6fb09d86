"""The contact log on the Today page (issue 14 item 3) and the downloads (item 7): a nurse
records a contact through a CSRF-checked form, Today shows the phone and the last contact,
and a patient booked ahead is hidden until the day after the booked date."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from monitor.config import Config
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Contact, Patient
from monitor.web.app import create_app
from tests.web.clinic import TODAY, Clinic
from tests.web.conftest import SECRET, FakeClock, csrf_of, sign_in

PHONE = "+44 7700 900456"


def contacts(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(Contact)) or 0


def give_phone(engine: Engine, mrn: str, phone: str = PHONE) -> None:
    with unit_of_work(engine) as session:
        session.scalars(select(Patient).where(Patient.mrn == mrn)).one().phone = phone


def overdue_section(html: str) -> str:
    return html.split('id="overdue"', 1)[1].split('id="unreachable"', 1)[0]


def record(client: TestClient, mrn: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(f"/patients/{mrn}/contacts", data={"csrf": csrf_of(client), **data})


def test_recording_a_contact_from_today(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    give_phone(engine, clinic.alex)
    before = overdue_section(nurse.get("/").text)
    assert PHONE in before and "no contact yet" in before
    assert f'action="/patients/{clinic.alex}/contacts"' in before

    response = record(nurse, clinic.alex, outcome="left-message", note="voicemail", back="/")

    assert (response.status_code, response.headers["location"]) == (303, "/")
    page = nurse.get("/").text
    assert "Contact recorded: left-message." in page
    row = overdue_section(page).split(f"{clinic.alex}</div>", 1)[1].split("</tr>", 1)[0]
    assert "left-message" in row and "voicemail" in row and "nina" in row
    with unit_of_work(engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "contact.add")).one()
        assert entry.actor == "web:nina"
        saved = session.scalars(select(Contact)).one()
        assert (saved.outcome.value, saved.contact_by, saved.note) == (
            "left-message",
            "nina",
            "voicemail",
        )


def test_a_contact_without_the_csrf_token_is_refused(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    for token in (None, "forged"):
        data = {"outcome": "reached"} | ({"csrf": token} if token else {})
        response = nurse.post(f"/patients/{clinic.alex}/contacts", data=data)
        assert response.status_code == 403
    assert contacts(engine) == 0


def test_bad_contact_input_is_refused_with_the_reason_and_writes_nothing(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    cases = {
        "The booked date is required for a booked contact": {"outcome": "booked"},
        "is in the past": {
            "outcome": "booked",
            "booked_on": (TODAY - timedelta(days=1)).isoformat(),
        },
        "The outcome 'phoned' is not one of": {"outcome": "phoned"},
        "The booked date is not a date": {"outcome": "booked", "booked_on": "next week"},
        "The note must have at most 500 characters": {"outcome": "reached", "note": "n" * 501},
    }
    for words, data in cases.items():
        response = record(nurse, clinic.alex, back="/", **data)
        assert response.status_code == 303
        assert words in html.unescape(nurse.get("/").text), words
    assert contacts(engine) == 0
    assert record(nurse, "NOPE", outcome="reached").status_code == 404


def test_a_booked_patient_is_hidden_until_the_day_after_the_booked_date(
    nurse: TestClient, engine: Engine, clinic: Clinic, config: Config
) -> None:
    booked_on = TODAY + timedelta(days=2)
    assert clinic.alex in overdue_section(nurse.get("/").text)

    record(nurse, clinic.alex, outcome="booked", booked_on=booked_on.isoformat(), back="/")

    section = overdue_section(nurse.get("/").text)
    assert f"{clinic.alex}</div>" not in section
    assert "1 booked, hidden" in section
    link = re.search(r'href="(/\?[^"]*booked=show[^"]*)"', section)
    assert link is not None
    shown = overdue_section(nurse.get(link.group(1).replace("&amp;", "&")).text)
    assert f"{clinic.alex}</div>" in shown and "booked for" in shown
    csv_rows = list(csv.DictReader(io.StringIO(nurse.get("/today.csv").text)))
    assert clinic.alex not in {row["mrn"] for row in csv_rows}

    for day, listed in ((booked_on, False), (booked_on + timedelta(days=1), True)):
        later = create_app(config, engine, now=FakeClock(), today_fn=lambda d=day: d, secret=SECRET)
        with TestClient(later, follow_redirects=False) as other:
            assert sign_in(other).status_code == 303
            assert (f"{clinic.alex}</div>" in overdue_section(other.get("/").text)) is listed, day


def test_the_overdue_download_carries_contact_details_and_guards_formulas(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    give_phone(engine, clinic.alex)
    with unit_of_work(engine) as session:
        session.scalars(
            select(Patient).where(Patient.mrn == clinic.alex)
        ).one().name = '=HYPERLINK("http://x.invalid","Alex")'
    record(nurse, clinic.alex, outcome="no-answer", back="/")

    response = nurse.get("/export/overdue.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    alex = [row for row in rows if row["mrn"] == clinic.alex]
    assert alex
    assert {row["name"] for row in alex} == {'\'=HYPERLINK("http://x.invalid","Alex")'}
    assert {row["phone"] for row in alex} == {"'" + PHONE}  # a leading + is a formula too
    assert {row["email"] for row in alex} == {"alex@example.invalid"}
    assert {row["last_contact_outcome"] for row in alex} == {"no-answer"}
    assert {row["last_contact_by"] for row in alex} == {"nina"}

    book = load_workbook(io.BytesIO(nurse.get("/export/overdue.xlsx").content))
    sheet = book.active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    assert header[:4] == ["mrn", "name", "phone", "email"]
    found = [row for row in sheet.iter_rows(min_row=2) if row[0].value == clinic.alex]
    assert len(found) == len(alex)
    name_cell = found[0][1]
    assert name_cell.value == '=HYPERLINK("http://x.invalid","Alex")'
    assert name_cell.data_type == "s"  # text, never a formula
    assert found[0][2].value == PHONE
    assert found[0][header.index("last_contact_outcome")].value == "no-answer"


def test_flags_and_audit_downloads(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    flags_page = nurse.get("/flags").text
    assert "/export/flags.csv?" in flags_page
    assert "/export/audit.csv" in nurse.get("/audit").text
    flags = list(csv.DictReader(io.StringIO(nurse.get("/export/flags.csv").text)))
    assert flags and {row["status"] for row in flags} == {"open"}
    assert clinic.alex in {row["mrn"] for row in flags}
    record(nurse, clinic.alex, outcome="reached", back="/")
    audit = list(csv.DictReader(io.StringIO(nurse.get("/export/audit.csv").text)))
    assert "contact.add" in {row["action"] for row in audit}
    assert nurse.get("/export/flags.pdf").status_code == 404
