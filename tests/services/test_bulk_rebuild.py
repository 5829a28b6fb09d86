"""The bulk rebuild (`services.schedule.bulk_rebuild`, what `rebuild_schedules` runs for
`monitor db rebuild` and the daemon) stores exactly the slots and stamps of the per-patient
rebuild (`upkeep.touch` -> `slots.replace_slots`), with and without its process pool, and
records every patient it rebuilt for the web cache (issue 15 item 3)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, update

from monitor import clock
from monitor.config import Config
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient, change_status
from monitor.services.people.treatments import start_treatment
from monitor.services.results.recording import ResultIn, add_results
from monitor.services.schedule.fingerprints import rebuild_schedules, schedules_are_current
from monitor.services.schedule.upkeep import latest_change, patients_changed_since, touch
from monitor.store.db import unit_of_work
from monitor.store.models import Flag, Patient, Slot, Treatment, Waiver

CONFIG = Config()
CATALOGUE = CONFIG.catalogue
TODAY = clock.now_utc().date()  # the unit of work plans open-ended series from today
NOW = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
SLOT_COLUMNS = [c for c in Slot.__table__.columns if c.name != "id"]


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


def build_clinic(engine: Engine, patients: int) -> None:
    """Alemtuzumab patients (one or two courses, results, a low platelet count that asks for a
    repeat), some also on dimethyl fumarate (open-ended), one withdrawn, one with a waiver."""
    start = TODAY - timedelta(days=500)
    with unit_of_work(engine, CATALOGUE) as session:
        for n in range(patients):
            mrn = f"B{n:03d}"
            add_patient(
                session, mrn=mrn, name=f"Pat {n}", email=None, born_on=None, sex="FM"[n % 2],
                site="main", actor="test", now=NOW,
            )  # fmt: skip
            first = start + timedelta(days=3 * n)
            add_course(session, mrn=mrn, infused_on=days(first, 5), actor="test", now=NOW)
            if n % 3 == 1:
                second = first + timedelta(days=370)
                add_course(session, mrn=mrn, infused_on=days(second, 3), actor="test", now=NOW)
            if n % 4 == 2:
                started_on = first + timedelta(days=200)
                start_treatment(
                    session, mrn=mrn, protocol="dimethyl_fumarate", started_on=started_on,
                    actor="test", now=NOW,
                )  # fmt: skip
            on = first + timedelta(days=35)
            batch = [ResultIn(mrn, "creatinine", "80", "umol/L", on)]
            batch.append(ResultIn(mrn, "platelets", "60" if n % 2 else "210", "10^9/L", on))
            add_results(session, batch, today=TODAY, now=NOW, rules=CONFIG.rule_settings)
        change_status(
            session, mrn="B003", status="withdrawn", on=start + timedelta(days=120),
            reason=None, actor="test", now=NOW,
        )  # fmt: skip
    with unit_of_work(engine, CATALOGUE) as session:
        patient_id = session.scalar(select(Patient.id).where(Patient.mrn == "B004"))
        due_on = session.scalar(
            select(func.min(Slot.due_on)).where(Slot.patient_id == patient_id, Slot.panel == "cbc")
        )
        session.execute(
            insert(Waiver).values(
                patient_id=patient_id, protocol="alemtuzumab", panel="cbc", due_on=due_on,
                waived_by="test", reason="test", waived_at=NOW,
            )
        )  # fmt: skip


def stored(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every slot (all columns but the id) and every treatment's stamp, sorted."""
    with engine.connect() as connection:
        slots = sorted(tuple(row) for row in connection.execute(select(*SLOT_COLUMNS)))
        stamps = select(Treatment.id, Treatment.schedule_fingerprint, Treatment.planned_until_on)
        return slots, sorted(tuple(row) for row in connection.execute(stamps))


def reference(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What the per-patient rebuild stores for everyone."""
    with unit_of_work(engine, CATALOGUE) as session:
        touch(session, session.scalars(select(Patient.id)).all())
    return stored(engine)


def spoil(engine: Engine) -> None:
    """Slots that are wrong and stamps that are stale, behind the unit of work's back."""
    with engine.begin() as connection:
        connection.execute(delete(Slot).where(Slot.panel == "tsh"))
        connection.execute(update(Slot).values(completed_on=None))
        connection.execute(update(Treatment).values(schedule_fingerprint=None))


@pytest.mark.parametrize("workers", [0, 2])
def test_the_bulk_rebuild_stores_what_the_per_patient_rebuild_stores(
    engine: Engine, workers: int
) -> None:
    build_clinic(engine, 9)
    expected_slots, expected_stamps = reference(engine)
    kinds = {row[SLOT_COLUMNS.index(Slot.__table__.c.kind)] for row in expected_slots}
    assert "repeat" in kinds, "a flag's repeat is among the slots compared"
    assert any(row[2] for row in expected_stamps), "an open-ended series is stamped"
    assert any(row[-2] for row in expected_slots), "a waived slot is compared"
    assert any(row[-1] for row in expected_slots), "a cancelled slot is compared"
    spoil(engine)
    with unit_of_work(engine) as session:
        before = latest_change(session)
    seen: list[int] = []

    done = rebuild_schedules(
        engine,
        CATALOGUE,
        only_stale=True,
        chunk_size=4,
        workers=workers,
        on_chunk=lambda progress: seen.append(progress.done),
    )

    assert done.done == 9 and seen == [4, 8, 9]
    assert stored(engine) == (expected_slots, expected_stamps)
    with unit_of_work(engine) as session:
        assert schedules_are_current(session, CATALOGUE)
        everyone = set(session.scalars(select(Patient.id)))
        assert patients_changed_since(session, before) == everyone


def test_a_full_rebuild_of_a_current_clinic_changes_nothing(engine: Engine) -> None:
    build_clinic(engine, 5)
    expected = reference(engine)  # the waiver was written behind the unit of work's back
    with unit_of_work(engine) as session:
        flagged = session.scalar(select(func.count()).select_from(Flag))
    assert flagged, "the clinic has flags"

    ids = slot_ids(engine)

    done = rebuild_schedules(engine, CATALOGUE, only_stale=False, chunk_size=2, workers=0)

    assert done.done == 5
    assert stored(engine) == expected
    assert slot_ids(engine) == ids, "a slot the rebuild plans as stored is left alone"


def slot_ids(engine: Engine) -> set[int]:
    with engine.connect() as connection:
        return set(connection.scalars(select(Slot.id)))


WORKER_OF_A_KILLED_PARENT = """
import os, sys, time
from monitor.config import Config
from monitor.services.schedule.bulk_rebuild import planner

if __name__ == "__main__":
    with planner(Config().catalogue, 1) as pool:
        print(pool.submit(os.getpid).result(), flush=True)
        time.sleep(600)
"""


def test_the_workers_of_a_killed_rebuild_end_too(tmp_path) -> None:
    """kill -9 of the process running a rebuild (no shutdown of its pool) ends its workers."""
    script = tmp_path / "rebuild.py"
    script.write_text(WORKER_OF_A_KILLED_PARENT)
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert is_running(worker)

        parent.send_signal(signal.SIGKILL)
        parent.wait()

    deadline = time.monotonic() + 120  # a generous bound on a loaded machine, not a timing
    while is_running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not is_running(worker), "the worker outlived its killed parent"


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may be slow)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:\tZ") for line in status)
    except FileNotFoundError:
        return False
