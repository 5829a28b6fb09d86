"""`rebuild_schedules`: chunked, one commit per chunk, resumable; the fingerprint per patient
says which protocol built the stored slots, so an interrupted rebuild never looks finished."""

import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.catalogue import Catalogue
from monitor.services.people import courses, patients
from monitor.services.results import recording as results
from monitor.services.results.recording import ResultIn
from monitor.services.schedule.fingerprints import (
    RebuildProgress,
    StaleSchedules,
    count_stale_patients,
    rebuild_schedules,
    require_current_schedules,
    schedules_are_current,
)
from monitor.services.schedule.slots import lock_patient, replace_slots
from monitor.store.db import unit_of_work
from monitor.store.models import Patient, Slot, Treatment
from tests.reference_schedule import catalogue_of

NOW = datetime(2024, 1, 1, tzinfo=UTC)
OLD_PROTOCOL = Config().protocol.to_protocol()
OLD = catalogue_of(OLD_PROTOCOL)
NEW = catalogue_of(
    replace(
        OLD_PROTOCOL,
        panels=tuple(
            replace(p, every_months=2) if p.name == "tsh" else p for p in OLD_PROTOCOL.panels
        ),
    )
)


class Crash(Exception):
    """Stands for the process dying between two chunks."""


def crash(_progress: RebuildProgress) -> None:
    raise Crash


def add_patients(engine, count: int, protocol: Catalogue = OLD, prefix: str = "R") -> None:
    with unit_of_work(engine, protocol) as session:
        for n in range(count):
            mrn = f"{prefix}{n:03d}"
            patients.add_patient(
                session, mrn=mrn, name=f"Patient {n}", email=None, born_on=None, sex=None,
                site="main", actor="test", now=NOW,
            )  # fmt: skip
            courses.add_course(
                session,
                mrn=mrn,
                infused_on=[date(2024, 1, 8) + timedelta(days=d) for d in range(5)],
                actor="test",
                now=NOW,
            )


def tsh_dates(session, patient_id: int) -> list[date]:
    rows = session.scalars(
        select(Slot.due_on)
        .where(Slot.patient_id == patient_id, Slot.panel == "tsh", Slot.kind == "recurring")
        .order_by(Slot.due_on)
    )
    return list(rows)[:2]


def fingerprints(engine) -> list[str | None]:
    with unit_of_work(engine) as session:
        return list(
            session.scalars(
                select(Treatment.schedule_fingerprint).order_by(Treatment.patient_id)
            ).all()
        )


def test_a_rebuild_that_dies_after_one_chunk_keeps_that_chunk_and_the_rest_stays_stale(engine):
    add_patients(engine, 5)
    seen: list[RebuildProgress] = []

    def die_after_first_chunk(progress: RebuildProgress) -> None:
        seen.append(progress)
        raise Crash

    with pytest.raises(Crash):
        rebuild_schedules(
            engine, NEW, only_stale=True, chunk_size=2, on_chunk=die_after_first_chunk
        )

    assert seen == [RebuildProgress(2, 5)]
    new, old = NEW.fingerprint("alemtuzumab"), OLD.fingerprint("alemtuzumab")
    assert fingerprints(engine) == [new, new, old, old, old]
    with unit_of_work(engine) as session:
        ids = session.scalars(select(Patient.id).order_by(Patient.id)).all()
        # The committed chunk holds new-protocol slots, the others their old ones, whole.
        assert tsh_dates(session, ids[0]) == [date(2024, 3, 12), date(2024, 5, 12)]
        assert tsh_dates(session, ids[4]) == [date(2024, 4, 12), date(2024, 7, 12)]
        assert count_stale_patients(session, NEW) == 3
        assert not schedules_are_current(session, NEW)
        with pytest.raises(StaleSchedules, match=r"3 patient.*monitor db rebuild"):
            require_current_schedules(session, NEW)


def test_a_second_rebuild_continues_with_the_stale_patients_only(engine):
    add_patients(engine, 5)
    with pytest.raises(Crash):
        rebuild_schedules(engine, NEW, only_stale=True, chunk_size=2, on_chunk=crash)
    progress: list[RebuildProgress] = []

    done = rebuild_schedules(engine, NEW, only_stale=True, chunk_size=2, on_chunk=progress.append)

    assert done == RebuildProgress(3, 3)
    assert progress == [RebuildProgress(2, 3), RebuildProgress(3, 3)]
    assert set(fingerprints(engine)) == {NEW.fingerprint("alemtuzumab")}
    with unit_of_work(engine) as session:
        assert schedules_are_current(session, NEW)
        assert not schedules_are_current(session, OLD)  # and back again needs a rebuild


def test_stopping_between_chunks_leaves_the_rest_for_later(engine):
    add_patients(engine, 5)
    chunks: list[RebuildProgress] = []

    done = rebuild_schedules(
        engine, NEW, only_stale=False, chunk_size=2, on_chunk=chunks.append,
        should_stop=lambda: len(chunks) == 2,
    )  # fmt: skip

    assert done == RebuildProgress(4, 5)
    with unit_of_work(engine) as session:
        assert count_stale_patients(session, NEW) == 1


def test_a_full_rebuild_takes_every_patient_even_current_ones(engine):
    add_patients(engine, 3, protocol=NEW)
    with unit_of_work(engine) as session:
        assert schedules_are_current(session, NEW)

    assert rebuild_schedules(engine, NEW, only_stale=False).done == 3
    assert rebuild_schedules(engine, NEW, only_stale=True).done == 0


def test_patients_without_slots_are_never_stale(engine):
    with unit_of_work(engine) as session:
        assert schedules_are_current(session, NEW)  # an empty database
        patients.add_patient(
            session, mrn="N1", name="No Course", email=None, born_on=None, sex=None,
            site="main", actor="test", now=NOW,
        )  # fmt: skip
    with unit_of_work(engine) as session:
        assert fingerprints(engine) == []  # no treatment: nothing was built
        assert schedules_are_current(session, NEW)
        assert schedules_are_current(session, OLD)


def test_changes_during_a_rebuild_are_rebuilt_or_stay_visibly_stale(engine):
    """Between two chunks: a result for a patient already rebuilt and a course for one not yet
    rebuilt, both with the new protocol, and a result and a new patient written with the old
    protocol (a process still running the old configuration)."""
    add_patients(engine, 4)
    chunks: list[RebuildProgress] = []

    def meanwhile(progress: RebuildProgress) -> None:
        chunks.append(progress)
        if len(chunks) == 1:  # R000 and R001 are rebuilt, R002 and R003 not yet
            add_tsh_result(engine, "R001", NEW)
            with unit_of_work(engine, NEW) as session:
                courses.add_course(
                    session, mrn="R003", infused_on=[date(2025, 1, 6)], actor="test", now=NOW,
                )  # fmt: skip
            add_tsh_result(engine, "R000", OLD)
            add_patients(engine, 1, OLD, prefix="L")

    done = rebuild_schedules(engine, NEW, only_stale=True, chunk_size=2, on_chunk=meanwhile)

    # R000 and R001, then R002 and L000 (added meanwhile); R003's own change rebuilt it.
    assert done.done == 4
    new = NEW.fingerprint("alemtuzumab")
    with unit_of_work(engine) as session:
        stamps = dict(session.execute(select(Patient.mrn, Patient.id)).all())
        stale = session.scalars(
            select(Patient.mrn)
            .join(Treatment, Treatment.patient_id == Patient.id)
            .where(Treatment.schedule_fingerprint != new)
        ).all()
        assert stale == ["R000"]
        assert count_stale_patients(session, NEW) == 1
        assert not schedules_are_current(session, NEW)
        assert tsh_completed_on(session, stamps["R001"], date(2024, 3, 12)) == date(2024, 3, 12)
        second_course = select(func.count()).where(
            Slot.patient_id == stamps["R003"], Slot.course == 2
        )
        assert (session.scalar(second_course) or 0) > 0


def add_tsh_result(engine, mrn: str, protocol: Catalogue) -> None:
    with unit_of_work(engine, protocol) as session:
        results.add_results(
            session,
            [ResultIn(mrn, "tsh", "2.0", "mIU/L", date(2024, 3, 12))],
            today=date(2024, 3, 12),
            now=NOW,
            rules=Config().rule_settings,
        )


def tsh_completed_on(session, patient_id: int, due_on: date) -> date | None:
    return session.scalar(
        select(Slot.completed_on).where(
            Slot.patient_id == patient_id, Slot.panel == "tsh", Slot.due_on == due_on
        )
    )


def test_on_postgresql_a_change_during_a_rebuild_waits_for_the_patient_and_then_applies(engine):
    """Two transactions rebuilding one patient take turns (the patient's row lock): without it
    the second would insert slots beside the first's uncommitted ones (a unique violation)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    add_patients(engine, 1)
    errors: list[Exception] = []

    def import_a_result() -> None:
        try:
            add_tsh_result(engine, "R000", NEW)
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    with Session(engine) as rebuilding, rebuilding.begin():
        patient = rebuilding.scalars(select(Patient)).one()
        lock_patient(rebuilding, patient.id)
        replace_slots(rebuilding, patient, NEW, date(2024, 3, 12))
        writer = threading.Thread(target=import_a_result)
        writer.start()
        wait_until_a_lock_is_awaited(engine)
    writer.join(timeout=60)

    assert not writer.is_alive()
    assert errors == []
    with unit_of_work(engine) as session:
        patient_id = session.scalars(select(Patient.id)).one()
        assert tsh_completed_on(session, patient_id, date(2024, 3, 12)) == date(2024, 3, 12)
        assert schedules_are_current(session, NEW)


def wait_until_a_lock_is_awaited(engine) -> None:
    """Until another backend waits for a row lock (pg_locks), or fail after a minute."""
    deadline = time.monotonic() + 60
    with engine.connect() as connection:
        while not connection.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
            assert time.monotonic() < deadline, "the writer never waited for the patient's lock"
            connection.rollback()
            time.sleep(0.05)
