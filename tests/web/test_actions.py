"""What a nurse does on the pages changes the database through the services, is audited
under her name, and shows on the next page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from monitor.domain.vocabulary import FlagStatus, QuarantineStatus
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Flag, Patient, QuarantineItem, Result, Waiver
from tests.web.clinic import NOW, TODAY, Clinic
from tests.web.conftest import csrf_of


def audited(engine: Engine, action: str) -> list[AuditEntry]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def post(client: TestClient, path: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf": csrf_of(client), **data})


def test_acknowledging_a_flag(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    """Acknowledging a row closes every open flag of that result, each audited."""
    with unit_of_work(engine) as session:
        first = session.scalars(select(Flag).where(Flag.status == FlagStatus.OPEN)).first()
        assert first is not None
        flag_id, result_id = first.id, first.result_id
        same_result = set(
            session.scalars(
                select(Flag.id).where(Flag.result_id == result_id, Flag.status == FlagStatus.OPEN)
            )
        )
        others_open = set(
            session.scalars(
                select(Flag.id).where(Flag.result_id != result_id, Flag.status == FlagStatus.OPEN)
            )
        )
    back = f"/patients/{clinic.alex}"
    response = post(nurse, f"/flags/{flag_id}/acknowledge", note="called the patient", back=back)
    assert (response.status_code, response.headers["location"]) == (303, back)
    with unit_of_work(engine) as session:
        for each in same_result:
            flag = session.get_one(Flag, each)
            assert (flag.status, flag.acknowledged_by) == (FlagStatus.ACKNOWLEDGED, "web:nina")
        still = session.scalars(select(Flag.id).where(Flag.status == FlagStatus.OPEN)).all()
        assert set(still) == others_open
    entries = audited(engine, "flag.acknowledge")
    assert sorted(e.entity_id for e in entries) == sorted(same_result)
    assert {e.actor for e in entries} == {"web:nina"}
    assert "acknowledged" in nurse.get(back).text
    again = post(nurse, f"/flags/{flag_id}/acknowledge", back=back)
    assert again.status_code == 400 and "already acknowledged" in again.text


def test_waiving_a_slot(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    page = nurse.get(f"/patients/{clinic.alex}").text
    slot = page.split('name="slot"')[1].split('value="')[1].split('"')[0]
    response = post(nurse, f"/patients/{clinic.alex}/waive", slot=slot, reason="done at the GP")
    assert response.status_code == 303
    with unit_of_work(engine) as session:
        waiver = session.scalars(select(Waiver)).one()
        assert (waiver.protocol, waiver.panel, waiver.due_on.isoformat(), waiver.waived_by) == (
            *slot.split("|"),
            "web:nina",
        )
    assert audited(engine, "slot.waive")


def test_a_waiver_needs_a_reason(nurse: TestClient, clinic: Clinic) -> None:
    response = post(
        nurse, f"/patients/{clinic.alex}/waive", slot="alemtuzumab|cbc|2026-05-25", reason=" "
    )
    assert response.status_code == 400
    assert "The reason must not be empty" in response.text


def test_recording_a_result_updates_the_grid(
    nurse: TestClient, engine: Engine, clinic: Clinic
) -> None:
    page = nurse.get(f"/patients/{clinic.alex}").text
    assert 'data-panel="creatinine" data-due="2026-05-25" data-status="overdue"' in page
    response = post(
        nurse,
        f"/patients/{clinic.alex}/results",
        analyte="creatinine",
        value="72",
        unit="umol/L",
        collected_on=TODAY.isoformat(),
    )
    assert response.status_code == 303
    page = nurse.get(f"/patients/{clinic.alex}").text
    assert 'data-panel="creatinine" data-due="2026-05-25" data-status="late"' in page
    with unit_of_work(engine) as session:
        assert session.scalars(select(Result).where(Result.source == "web")).one().value == "72"
    [entry] = audited(engine, "result.add")
    assert entry.actor == "web:nina" and entry.after is not None


def test_a_bad_result_is_refused_with_the_reason(nurse: TestClient, clinic: Clinic) -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    response = post(
        nurse,
        f"/patients/{clinic.alex}/results",
        analyte="creatinine",
        value="72",
        unit="umol/L",
        collected_on=tomorrow,
    )
    assert response.status_code == 400
    assert "in the future" in response.text


def test_changing_status_and_email(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    path = f"/patients/{clinic.robin}"
    assert (
        post(nurse, path + "/status", status="withdrawn", on=TODAY.isoformat()).status_code == 303
    )
    assert (
        post(nurse, path + "/email", email="robin@example.invalid", opted_out="yes").status_code
        == 303
    )
    with unit_of_work(engine) as session:
        robin = session.scalars(select(Patient).where(Patient.mrn == clinic.robin)).one()
        assert robin.status.value == "withdrawn"
        assert (robin.email, robin.email_opted_out) == ("robin@example.invalid", True)
    assert audited(engine, "patient.status") and audited(engine, "patient.email")
    assert (
        "Robin Hale"
        not in nurse.get("/").text.split('id="overdue"')[1].split('id="unreachable"')[0]
    )


def test_dropping_a_quarantined_item(nurse: TestClient, engine: Engine, clinic: Clinic) -> None:
    with unit_of_work(engine) as session:
        item = QuarantineItem(source="lab", format="csv", received_at=NOW, reason="bad", raw="x")
        session.add(item)
        session.flush()
        item_id = item.id
    response = post(nurse, f"/quarantine/{item_id}/drop", reason="duplicate of a paper result")
    assert (response.status_code, response.headers["location"]) == (303, "/quarantine")
    with unit_of_work(engine) as session:
        assert session.get_one(QuarantineItem, item_id).status is QuarantineStatus.DROPPED
    assert [e.actor for e in audited(engine, "quarantine.drop")] == ["web:nina"]
