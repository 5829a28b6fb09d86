"""The Patients page and the patient page's editing forms (issue 14 item 2), through the app:
finding and adding a patient, editing details, adding, correcting and deleting a course,
correcting and voiding a result. Every POST needs the session's CSRF token; every name is
escaped; bad input is refused with the reason and nothing is written."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from monitor.domain.vocabulary import Channel, FlagStatus, ResultStatus
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Base, Course, Flag, Patient, Result
from tests.web.clinic import XSS_NAME, Clinic
from tests.web.conftest import csrf_of


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
            if table.name not in ("slot_changes",)
        }


def post(client: TestClient, path: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf": csrf_of(client, "/patients"), **data})


def audited(engine: Engine, action: str) -> list[AuditEntry]:
    with unit_of_work(engine) as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def patient_row(engine: Engine, mrn: str) -> Patient:
    with unit_of_work(engine) as session:
        return session.scalars(select(Patient).where(Patient.mrn == mrn)).one()


def course_dates(engine: Engine, mrn: str) -> list[tuple[str, str]]:
    with unit_of_work(engine) as session:
        query = (
            select(Course.first_on, Course.last_on)
            .join(Patient, Patient.id == Course.patient_id)
            .where(Patient.mrn == mrn)
            .order_by(Course.first_on)
        )
        return [(a.isoformat(), b.isoformat()) for a, b in session.execute(query)]


def a_result(engine: Engine, mrn: str, analyte: str = "platelets") -> Result:
    """The patient's newest current result of `analyte`."""
    with unit_of_work(engine) as session:
        query = (
            select(Result)
            .join(Patient, Patient.id == Result.patient_id)
            .where(Patient.mrn == mrn, Result.analyte == analyte)
            .where(Result.status.in_([ResultStatus.FINAL, ResultStatus.CORRECTED]))
            .order_by(Result.collected_on.desc(), Result.id.desc())
        )
        return session.scalars(query).first()  # type: ignore[return-value]


# --- the Patients page --------------------------------------------------------------------------


def test_the_list_filters_by_site_and_status_and_escapes_names(
    nurse: TestClient, clinic: Clinic
) -> None:
    everyone = nurse.get("/patients")
    assert everyone.status_code == 200
    assert "4 patients" in everyone.text
    assert XSS_NAME not in everyone.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everyone.text

    north = nurse.get("/patients?site=north").text
    assert clinic.probe in north and clinic.robin in north and "Alex Rivers" not in north
    assert "No patients match" in nurse.get("/patients?status=withdrawn").text
    assert "4 patients" in nurse.get("/patients?site=elsewhere").text  # unknown: no filter


def test_a_search_is_posted_and_ignores_case_and_accents(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    assert (
        post(nurse, "/patients/add", mrn="E500", name="José Pérez", site="main").status_code == 303
    )

    found = post(nurse, "/patients", q="jose PEREZ")
    assert found.status_code == 200
    assert "1 match for" in found.text and "José Pérez" in found.text
    assert "Alex Rivers" not in found.text
    by_mrn = post(nurse, "/patients", q=clinic.alex.lower())
    assert "Alex Rivers" in by_mrn.text and "1 match for" in by_mrn.text
    narrowed = post(nurse, "/patients", q="r", site="north")
    assert "Robin Hale" in narrowed.text and "Alex Rivers" not in narrowed.text
    assert "No patient matches" in post(nurse, "/patients", q="nobody at all").text


def test_every_post_needs_the_csrf_token_and_writes_nothing_without_it(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    result_id = a_result(engine, clinic.alex).id
    before = counts(engine)
    here = f"/patients/{clinic.alex}"
    for path, data in [
        ("/patients", {"q": "alex"}),
        ("/patients/add", {"mrn": "Z1", "name": "Zed", "site": "main"}),
        (f"{here}/details", {"phone": "0161 496 0000"}),
        (f"{here}/courses", {"protocol": "alemtuzumab", "start": "2026-06-01", "days": "3"}),
        (f"{here}/courses/1/correct", {"protocol": "alemtuzumab", "dates": "2025-01-01"}),
        (f"{here}/results/{result_id}/correct", {"value": "90", "unit": "10^9/L", "reason": "x"}),
        (f"{here}/results/{result_id}/void", {"reason": "x"}),
    ]:
        missing = nurse.post(path, data=data)
        forged = nurse.post(path, data={**data, "csrf": "not-the-token"})
        assert (missing.status_code, forged.status_code) == (403, 403), path
    assert counts(engine) == before


def test_adding_a_patient_from_the_form(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    response = post(
        nurse,
        "/patients/add",
        mrn=" N600 ",
        name=XSS_NAME + " Two",
        dob="1990-02-03",
        sex="M",
        site="north",
        email="two@example.org",
    )

    assert (response.status_code, response.headers["location"]) == (303, "/patients/N600")
    row = patient_row(engine, "N600")
    assert (row.name, row.site, row.sex, row.email) == (
        XSS_NAME + " Two",
        "north",
        "M",
        "two@example.org",
    )
    assert [e.actor for e in audited(engine, "patient.add")][-1] == "web:nina"
    shown = nurse.get("/patients/N600").text
    assert XSS_NAME not in shown and "&lt;script&gt;alert(1)&lt;/script&gt; Two" in shown


def test_a_refused_patient_says_why_keeps_the_form_and_adds_nothing(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    before = counts(engine)
    for data, reason in [
        ({"mrn": clinic.alex, "name": "Again", "site": "main"}, "already exists"),
        ({"mrn": "N7", "name": "Nia", "site": "mars"}, "is not a site of this clinic"),
        ({"mrn": "N7", "name": "", "site": "main"}, "The name must not be empty"),
        ({"mrn": "N7", "name": "Nia", "site": "main", "dob": "1990-02-30"}, "not a date"),
        ({"mrn": "N7", "name": "Nia", "site": "main", "email": "nope"}, "is not an email"),
    ]:
        response = post(nurse, "/patients/add", **data)
        assert response.status_code == 400, data
        assert reason in response.text
        assert f'value="{data["name"]}"' in response.text  # the form keeps what was typed
    assert counts(engine) == before


# --- the patient page ---------------------------------------------------------------------------


def test_editing_details_on_the_patient_page(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    here = f"/patients/{clinic.alex}"
    page = nurse.get(here).text
    assert 'id="edit-details"' in page and 'action="/patients/A100/details"' in page

    response = post(
        nurse,
        f"{here}/details",
        name="Alex Rivers",
        dob="1985-03-02",
        sex="F",
        site="north",
        email="alex@example.invalid",
        phone="0161 496 0000",
        address="1 High St\r\nLeeds",
        channel="letter",
        reason="",
    )

    assert response.status_code == 303
    row = patient_row(engine, clinic.alex)
    assert (row.site, row.phone, row.address, row.channel) == (
        "north",
        "0161 496 0000",
        "1 High St\nLeeds",
        Channel.LETTER,
    )
    [entry] = audited(engine, "patient.edit")
    assert entry.actor == "web:nina"
    assert set(entry.after or {}) == {"site", "phone", "address", "channel"}
    assert "0161 496 0000" in nurse.get(here).text


def test_bad_details_are_refused_with_the_reason(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    here = f"/patients/{clinic.alex}"
    before = counts(engine)
    for data, reason in [
        ({"phone": "12"}, "phone number must have 7 to 20 digits"),
        ({"sex": "M"}, "The reason is required to change sex"),
        ({"channel": "pigeon"}, "must be one of email, letter, sms"),
        ({"site": "mars"}, "is not a site of this clinic"),
        ({"dob": "2999-01-01"}, "date of birth"),
    ]:
        response = post(nurse, f"{here}/details", **data)
        assert response.status_code == 400, data
        assert reason in response.text
    assert counts(engine) == before
    assert patient_row(engine, clinic.alex).sex == "F"


def test_adding_and_correcting_a_course(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    here = f"/patients/{clinic.sam}"
    [(first, _)] = course_dates(engine, clinic.sam)

    added = post(nurse, f"{here}/courses", protocol="alemtuzumab", start="2026-06-22", days="3")
    assert added.status_code == 303
    assert course_dates(engine, clinic.sam)[-1] == ("2026-06-22", "2026-06-24")

    fixed = post(
        nurse,
        f"{here}/courses/2/correct",
        protocol="alemtuzumab",
        dates="2026-06-29, 2026-06-30,2026-07-01",
        reason="booked a week later",
    )
    assert fixed.status_code == 303
    assert course_dates(engine, clinic.sam) == [
        (first, course_dates(engine, clinic.sam)[0][1]),
        ("2026-06-29", "2026-07-01"),
    ]
    [entry] = audited(engine, "course.correct")
    assert (entry.actor, (entry.after or {})["reason"]) == ("web:nina", "booked a week later")

    before = counts(engine)
    for path, data, reason in [
        ("courses/3/correct", {"dates": "2026-08-01", "reason": "x"}, "course 3 does not exist"),
        ("courses/2/correct", {"dates": "2026-06-29", "reason": ""}, "The reason must not be"),
        ("courses/2/correct", {"dates": "2026-13-01", "reason": "x"}, "not a date"),
        ("courses/2/correct", {"dates": first, "reason": "x"}, "overlaps course"),
        ("courses", {"start": "2026-09-01", "days": "40"}, "between 1 and 15"),
    ]:
        response = post(nurse, f"{here}/{path}", protocol="alemtuzumab", **data)
        assert response.status_code == 400, path
        assert reason in response.text
    assert counts(engine) == before


def test_deleting_a_course_needs_an_administrator(
    client: TestClient, engine: Engine, clinic: Clinic
) -> None:
    from tests.web.conftest import sign_in

    sign_in(client, "nina")
    here = f"/patients/{clinic.sam}"
    assert "Deleting a course needs an administrator" in client.get(here).text
    before = counts(engine)
    refused = post(client, f"{here}/courses/1/delete", protocol="alemtuzumab", reason="mistake")
    assert refused.status_code == 403
    assert counts(engine) == before

    client.post("/logout", data={"csrf": csrf_of(client, "/patients")})
    sign_in(client, "adam")
    assert "Delete course 1" in client.get(here).text
    done = post(client, f"{here}/courses/1/delete", protocol="alemtuzumab", reason="wrong patient")
    assert done.status_code == 303
    assert course_dates(engine, clinic.sam) == []
    [entry] = audited(engine, "course.delete")
    assert entry.actor == "web:adam" and (entry.after or {})["treatment_deleted"] is True
    assert "No schedule yet" in client.get(here).text


def test_correcting_and_voiding_a_result(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    here = f"/patients/{clinic.alex}"
    low = a_result(engine, clinic.alex)  # the platelet count of 80 with its open flag
    assert low.value == "80"
    assert f'data-result="{low.id}"' in nurse.get(here).text

    fixed = post(
        nurse,
        f"{here}/results/{low.id}/correct",
        value="180",
        unit="10^9/L",
        reason="transposed digits",
    )

    assert fixed.status_code == 303
    new = a_result(engine, clinic.alex)
    assert (new.value, new.status) == ("180", ResultStatus.CORRECTED)
    with unit_of_work(engine) as session:
        statuses = set(session.scalars(select(Flag.status).where(Flag.result_id == low.id)))
    assert statuses == {FlagStatus.SUPERSEDED}

    voided = post(nurse, f"{here}/results/{new.id}/void", reason="another patient's sample")
    assert voided.status_code == 303
    with unit_of_work(engine) as session:
        row = session.get(Result, new.id)
        assert row is not None and row.status is ResultStatus.ENTERED_IN_ERROR
    assert [e.actor for e in audited(engine, "result.entered_in_error")] == ["web:nina"]

    before = counts(engine)
    other = a_result(engine, clinic.sam, "creatinine")
    for path, data, reason in [
        (f"results/{other.id}/void", {"reason": "x"}, "is not one of A100"),
        (f"results/{new.id}/void", {"reason": "x"}, "is entered-in-error"),
        (f"results/{low.id}/correct", {"value": "1", "reason": "x"}, "is replaced"),
        ("results/999999/void", {"reason": "x"}, "is not one of A100"),
    ]:
        response = post(nurse, f"{here}/{path}", **data)
        assert response.status_code == 400, path
        assert reason in response.text
    assert counts(engine) == before
