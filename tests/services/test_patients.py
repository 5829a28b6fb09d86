"""Patients, called directly: registering, correcting the identity, changing the status (a stop
cancels later slots), pregnancies and the email preference. Each change is audited; a refusal
names the field in the product's words and writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.domain.vocabulary import PatientStatus
from monitor.errors import FieldError, InvalidInput, NotFound
from monitor.services.people.patients import (
    add_patient,
    add_pregnancy,
    change_status,
    edit_identity,
    set_email_preference,
)
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Patient, Pregnancy, Slot
from tests.services.clinic import (
    FEBRUARY,
    MARCH,
    MRN,
    NOW,
    PROTOCOL,
    audit_entries,
    count,
    enrol,
    patient,
    slot,
)


def register(engine: Engine, **fields: object) -> None:
    values: dict[str, object] = {
        "mrn": "N1", "name": "Robin Lee", "email": None, "born_on": None, "sex": None,
        "site": "main", "actor": "cli:test", "now": NOW,
    }  # fmt: skip
    with unit_of_work(engine, PROTOCOL) as session:
        add_patient(session, **(values | fields))  # type: ignore[arg-type]


def test_a_new_patient_is_stored_stripped_and_audited(engine: Engine) -> None:
    register(engine, mrn=" N1 ", name=" Robin Lee ", email=" robin@example.org ", sex="X")
    row = patient(engine, "N1")
    assert (row.mrn, row.name, row.email, row.sex, row.status) == (
        "N1", "Robin Lee", "robin@example.org", "X", PatientStatus.ACTIVE
    )  # fmt: skip
    [entry] = audit_entries(engine, "patient.add")
    assert (entry.actor, entry.patient_id, entry.after) == (
        "cli:test", row.id, {"mrn": "N1", "site": "main"}
    )  # fmt: skip


def test_an_mrn_is_registered_once(engine: Engine) -> None:
    register(engine)
    with pytest.raises(InvalidInput, match="a patient with MRN 'N1' already exists"):
        register(engine, name="Someone Else")
    assert patient(engine, "N1").name == "Robin Lee"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mrn": " "}, "MRN must not be empty"),
        ({"name": "Robin\nLee"}, "name must be one line (it contains a line break)"),
        ({"site": "x" * 65}, "site must have at most 64 characters (it has 65)"),
        ({"email": "robin"}, "email address 'robin' is not an email address"),
        ({"sex": "female"}, "sex must be one of F, M, X, got 'female'"),
        ({"born_on": NOW.date() + timedelta(days=1)}, "date of birth 2025-03-04 is in the future"),
    ],
)
def test_a_bad_field_is_named_in_the_products_words_and_nothing_is_written(
    engine: Engine, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(FieldError) as refused:
        register(engine, **fields)
    assert str(refused.value) == message
    assert count(engine, Patient) == 0
    assert count(engine, AuditEntry) == 0


def test_editing_the_identity_audits_both_values(engine: Engine) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        edit_identity(session, mrn=MRN, name="Alex Morgan-Hale", born_on=None, actor="cli:test",
                      now=NOW)  # fmt: skip
    assert (patient(engine).name, patient(engine).born_on) == ("Alex Morgan-Hale", date(1980, 1, 2))
    [entry] = audit_entries(engine, "patient.edit")
    assert entry.before == {"name": "Alex Morgan", "dob": "1980-01-02"}
    assert entry.after == {"name": "Alex Morgan-Hale", "dob": "1980-01-02"}


def test_an_identity_edit_with_a_future_birth_date_changes_nothing(engine: Engine) -> None:
    enrol(engine)
    with pytest.raises(FieldError, match="date of birth 2026-01-01 is in the future"):
        with unit_of_work(engine, PROTOCOL) as session:
            edit_identity(session, mrn=MRN, name="New Name", born_on=date(2026, 1, 1),
                          actor="cli:test", now=NOW)  # fmt: skip
    assert patient(engine).name == "Alex Morgan"
    assert audit_entries(engine, "patient.edit") == []


def test_an_unknown_mrn_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="unknown MRN 'Z9'"):
        with unit_of_work(engine, PROTOCOL) as session:
            edit_identity(session, mrn="Z9", name="X", born_on=None, actor="t", now=NOW)


def stop(engine: Engine, status: str, on: date, reason: str | None = "moved away") -> None:
    with unit_of_work(engine, PROTOCOL) as session:
        change_status(session, mrn=MRN, status=status, on=on, reason=reason, actor="cli:test",
                      now=NOW)  # fmt: skip


def test_a_stop_cancels_the_slots_due_on_or_after_it_once_committed(engine: Engine) -> None:
    enrol(engine)
    stop(engine, "transferred", MARCH)
    row = patient(engine)
    assert (row.status, row.status_on, row.status_reason) == (
        PatientStatus.TRANSFERRED, MARCH, "moved away"
    )  # fmt: skip
    february, march = slot(engine, "cbc", FEBRUARY), slot(engine, "cbc", MARCH)
    assert february is not None and not february.is_cancelled
    assert march is None or march.is_cancelled
    [entry] = audit_entries(engine, "patient.status")
    assert entry.before == {"status": "active", "status_on": None, "reason": None}
    assert entry.after == {
        "status": "transferred", "status_on": "2025-03-10", "reason": "moved away"
    }  # fmt: skip


def test_an_unknown_status_lists_the_known_ones_and_changes_nothing(engine: Engine) -> None:
    enrol(engine)
    with unit_of_work(engine) as session:
        slots_before = session.scalars(select(Slot.due_on).order_by(Slot.id)).all()
    with pytest.raises(InvalidInput, match="unknown status 'paused'; use one of active, "):
        stop(engine, "paused", MARCH)
    with pytest.raises(FieldError, match="reason must not contain control characters"):
        stop(engine, "withdrawn", MARCH, reason="esc\x1b[2J")
    assert patient(engine).status is PatientStatus.ACTIVE
    with unit_of_work(engine) as session:
        assert session.scalars(select(Slot.due_on).order_by(Slot.id)).all() == slots_before
    assert audit_entries(engine, "patient.status") == []


def test_a_pregnancy_is_stored_and_audited(engine: Engine) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        add_pregnancy(session, mrn=MRN, from_on=date(2024, 5, 1), to_on=None, actor="cli:test",
                      now=NOW)  # fmt: skip
    with unit_of_work(engine) as session:
        period = session.scalars(select(Pregnancy)).one()
        assert (period.from_on, period.to_on) == (date(2024, 5, 1), None)
    [entry] = audit_entries(engine, "patient.pregnancy")
    assert entry.after == {"from": "2024-05-01", "to": None}


def test_a_pregnancy_ending_before_it_starts_names_both_ends(engine: Engine) -> None:
    enrol(engine)
    with pytest.raises(FieldError) as refused:
        with unit_of_work(engine, PROTOCOL) as session:
            add_pregnancy(session, mrn=MRN, from_on=date(2024, 5, 1), to_on=date(2024, 4, 1),
                          actor="cli:test", now=NOW)  # fmt: skip
    assert str(refused.value) == "pregnancy end 2024-04-01 is before pregnancy start 2024-05-01"
    assert count(engine, Pregnancy) == 0


def test_the_email_preference_is_changed_and_audited_with_before_and_after(
    engine: Engine,
) -> None:
    enrol(engine, email="alex@example.org")
    with unit_of_work(engine, PROTOCOL) as session:
        set_email_preference(session, mrn=MRN, address=None, opt_out=True, actor="web:nina",
                             now=NOW)  # fmt: skip
    with unit_of_work(engine, PROTOCOL) as session:
        set_email_preference(session, mrn=MRN, address=" alex@clinic.example ", opt_out=None,
                             actor="web:nina", now=NOW)  # fmt: skip
    row = patient(engine)
    assert (row.email, row.email_opted_out) == ("alex@clinic.example", True)
    assert [(entry.before, entry.after) for entry in audit_entries(engine, "patient.email")] == [
        ({"email": "alex@example.org", "opted_out": False},
         {"email": "alex@example.org", "opted_out": True}),
        ({"email": "alex@example.org", "opted_out": True},
         {"email": "alex@clinic.example", "opted_out": True}),
    ]  # fmt: skip


def test_a_bad_address_is_refused_and_the_old_one_kept(engine: Engine) -> None:
    enrol(engine, email="alex@example.org")
    with pytest.raises(FieldError, match=r"email address 'Alex <alex@x\.org>' must be a bare"):
        with unit_of_work(engine, PROTOCOL) as session:
            set_email_preference(session, mrn=MRN, address="Alex <alex@x.org>", opt_out=None,
                                 actor="web:nina", now=NOW)  # fmt: skip
    assert patient(engine).email == "alex@example.org"
    assert audit_entries(engine, "patient.email") == []
