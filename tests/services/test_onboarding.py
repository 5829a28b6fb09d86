"""The onboarding service called directly (issue 14 item 1): the bulk store of new patients'
slots is the same schedule a rebuild computes, chunks commit one by one, and a database fault
mid-way says what was committed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select

from monitor.services.people.onboarding import (
    CaseloadRow,
    PartlyWritten,
    check_caseload,
    write_caseload,
)
from monitor.services.people.patients import add_patient
from monitor.services.schedule.upkeep import touch
from monitor.store.db import unit_of_work
from monitor.store.models import Patient, Slot, SlotChange, Treatment
from tests.services.clinic import NOW, PROTOCOL, count

TODAY = NOW.date()


def course(first: date, days: int) -> tuple[date, ...]:
    return tuple(first + timedelta(days=n) for n in range(days))


def caseload(patients: int) -> list[CaseloadRow]:
    """Alemtuzumab patients with one or two courses, and continuous ones, one stopped."""
    rows = []
    for n in range(patients):
        base = {"mrn": f"S{n:03d}", "name": f"Pat {n}", "sex": "FM"[n % 2], "line": 0}
        if n % 3 == 0:
            rows.append(
                CaseloadRow(
                    **{**base, "line": len(rows) + 2}, course_dates=course(date(2023, 1, 2), 5)
                )
            )
            rows.append(
                CaseloadRow(
                    **{**base, "line": len(rows) + 2}, course_dates=course(date(2024, 1, 8), 3)
                )
            )
        elif n % 3 == 1:
            rows.append(
                CaseloadRow(
                    **{**base, "line": len(rows) + 2},
                    protocol="dimethyl_fumarate",
                    started_on=date(2023, 5, 1),
                    stopped_on=date(2024, 2, 1) if n % 2 else None,
                )
            )
        else:
            rows.append(
                CaseloadRow(
                    **{**base, "line": len(rows) + 2},
                    protocol="natalizumab",
                    started_on=date(2024, 6, 3),
                )
            )
    return rows


def plan_of(engine: Engine, rows: list[CaseloadRow]):  # type: ignore[no-untyped-def]
    with unit_of_work(engine, PROTOCOL) as session:
        return check_caseload(session, rows, [], today=TODAY)


def stored_slots(engine: Engine) -> list[tuple[object, ...]]:
    columns = [c for c in Slot.__table__.columns if c.name != "id"]
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(select(*columns)))


def stamps(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        query = select(
            Treatment.patient_id,
            Treatment.protocol,
            Treatment.schedule_fingerprint,
            Treatment.planned_until_on,
        )
        return sorted(tuple(row) for row in connection.execute(query))


@pytest.mark.parametrize("workers", [0, 2])
def test_the_bulk_slots_are_the_schedule_a_rebuild_computes(engine: Engine, workers: int) -> None:
    """Planned in the main process and in a pool of two worker processes (issue 15)."""
    plan = plan_of(engine, caseload(12))
    assert not plan.errors

    outcome = write_caseload(
        engine, PROTOCOL, plan, actor="test", now=NOW, chunk=5, workers=workers
    )

    bulk, bulk_stamps = stored_slots(engine), stamps(engine)
    assert outcome.patients == 12 and outcome.slots == len(bulk) > 0
    with engine.connect() as connection:
        changed = set(connection.scalars(select(SlotChange.patient_id)))
        ids = set(connection.scalars(select(Patient.id)))
    assert changed == ids, "every new patient has its slot_changes row (the web cache reads it)"
    with unit_of_work(engine, PROTOCOL) as session:
        touch(session, ids)  # the one-patient-at-a-time path
    assert stored_slots(engine) == bulk
    assert stamps(engine) == bulk_stamps
    assert all(fingerprint for _, _, fingerprint, _ in bulk_stamps)


def test_chunks_commit_one_by_one_and_report_progress(engine: Engine) -> None:
    plan = plan_of(engine, caseload(7))
    seen: list[int] = []

    write_caseload(engine, PROTOCOL, plan, actor="test", now=NOW, chunk=3, progress=seen.append)

    assert seen == [3, 3, 1]
    assert count(engine, Patient) == 7


def test_a_fault_mid_way_says_what_was_committed(engine: Engine) -> None:
    plan = plan_of(engine, caseload(6))
    # After the check, another session adds the fourth patient: the second chunk's insert hits
    # the unique MRN (a real database error), the first chunk is already committed.
    with unit_of_work(engine, PROTOCOL) as session:
        add_patient(
            session,
            mrn="S003",
            name="Someone Else",
            email=None,
            born_on=None,
            sex=None,
            site="main",
            actor="test",
            now=NOW,
        )

    with pytest.raises(PartlyWritten) as raised:
        write_caseload(engine, PROTOCOL, plan, actor="test", now=NOW, chunk=3)

    assert raised.value.committed == 3
    assert "3 of 6 patients to write were committed (up to line 5)" in str(raised.value)
    assert "Someone Else" not in str(raised.value)
    with engine.connect() as connection:
        mrns = sorted(connection.scalars(select(Patient.mrn)))
        orphans = connection.scalar(
            select(func.count()).select_from(Slot).where(Slot.patient_id.not_in(select(Patient.id)))
        )
    assert mrns == ["S000", "S001", "S002", "S003"]
    assert orphans == 0

    # Importing the same rows again adds the rest and leaves the committed ones unchanged.
    again = plan_of(engine, [row for row in caseload(6) if row.mrn != "S003"])
    states = sorted(change.state for change in again.changes)
    assert states == ["new", "new", "unchanged", "unchanged", "unchanged"]


def test_add_patient_keeps_the_phone_address_and_channel(engine: Engine) -> None:
    with unit_of_work(engine, PROTOCOL) as session:
        add_patient(
            session,
            mrn="C1",
            name="Cal Contact",
            email=None,
            born_on=None,
            sex=None,
            site="main",
            actor="test",
            now=NOW,
            phone=" +44 (0)100 000-0000 ",
            address="1 High St\n\n  Town  ",
            channel="Letter",
        )
    with engine.connect() as connection:
        row = connection.execute(select(Patient).where(Patient.mrn == "C1")).one()
    assert (row.phone, row.address, row.channel) == (
        "+44 (0)100 000-0000",
        "1 High St\nTown",
        "letter",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone": "call me"}, "phone number must be digits"),
        ({"phone": "0" * 41}, "phone number must have at most 40"),
        ({"address": "\n".join("line" for _ in range(9))}, "postal address must have at most 8"),
        ({"address": " \n "}, "postal address must not be empty"),
        ({"channel": "pigeon"}, "reminder channel must be one of email, letter, sms"),
    ],
)
def test_add_patient_refuses_bad_contact_details(
    engine: Engine, fields: dict[str, str], message: str
) -> None:
    from monitor.errors import InvalidInput

    with pytest.raises(InvalidInput, match=message), unit_of_work(engine, PROTOCOL) as session:
        add_patient(
            session,
            mrn="C1",
            name="Cal",
            email=None,
            born_on=None,
            sex=None,
            site="main",
            actor="test",
            now=NOW,
            **fields,
        )
    assert count(engine, Patient) == 0
