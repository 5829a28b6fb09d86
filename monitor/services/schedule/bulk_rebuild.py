"""Rebuilding many patients' slots at once: a chunk is read with one query per table, planned in
a process pool, and written with the driver's bulk path (COPY on PostgreSQL).

The per-patient rebuild (`slots.replace_slots`, what the unit of work does for a change) reads
each patient through the ORM and costs tens of milliseconds; a full rebuild of a large clinic
(`monitor db rebuild`, or the daemon's after a protocol change) spends that on reads and
Python, not on the database. Here one transaction per chunk locks the chunk's patients in id
order (PostgreSQL; SQLite's one writer holds the whole database), reads their treatments,
courses, counted results, waivers and repeats as last committed, plans them with the same pure
code as the per-patient rebuild (`slots.plan_rows`), replaces their slots and stamps their
treatments, and records them as rebuilt (`slot_changes`, for the web cache). The planning is
pure (the domain's), so it runs in worker processes while the main process reads and writes:
the chunk is cut in parts, each part submitted as soon as it is read, and written as its rows
come back. The result is the per-patient rebuild's, row for row (tests hold them together).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.courses import Course as DomainCourse
from monitor.domain.repeats import RepeatRequest
from monitor.domain.status import CountedResult
from monitor.domain.treatments import Treatment as DomainTreatment
from monitor.domain.vocabulary import COUNTING_STATUSES, STOPPED_STATUSES, FlagStatus
from monitor.services.schedule.slots import (
    SLOT_COLUMNS,
    PatientInputs,
    PlannedPatient,
    plan_patients,
)
from monitor.store.bulk import insert_tuples_on
from monitor.store.models import Course, Flag, Infusion, Patient, Result, Slot, Treatment, Waiver

PART = 50  # patients per task sent to a worker: small enough to keep every worker busy
SLOTS: Table = Slot.__table__  # type: ignore[assignment]
DELETE_BATCH = 5000  # slot ids per DELETE (SQLite's limit on parameters is 32,766)
POOL_FROM = 400  # patients: fewer are planned in the main process (a pool takes a second)


def workers_for(patients: int, workers: int | None) -> int:
    """How many worker processes plan `patients` (0: the main process plans): `workers`, or
    one per CPU when not given, none for a few patients."""
    if workers is None:
        workers = (os.cpu_count() or 1) if patients >= POOL_FROM else 0
    return max(workers, 0)


@contextmanager
def planner(catalogue: Catalogue, workers: int) -> Iterator[Executor | None]:
    """A pool of `workers` processes that know `catalogue` (None for none). Spawned, not
    forked: the daemon has threads, and a forked child would inherit the engine's sockets."""
    if workers <= 0:
        yield None
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_know_catalogue,
        initargs=(catalogue,),
    )
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


_CATALOGUE: list[Catalogue] = []  # a worker's catalogue, set once by the pool's initializer


def _know_catalogue(catalogue: Catalogue) -> None:
    _CATALOGUE[:] = [catalogue]
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker when the process that started it is gone: a killed rebuild (kill -9,
    the daemon stopped hard) never shuts its pool down, and its idle workers would wait on
    their queue for ever."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _plan_in_worker(inputs: list[PatientInputs], horizon_on: date) -> list[PlannedPatient]:
    return plan_patients(inputs, _CATALOGUE[0], horizon_on)


Planned = Future[list[PlannedPatient]] | list[PlannedPatient]


def plan_part(
    pool: Executor | None, inputs: list[PatientInputs], catalogue: Catalogue, horizon_on: date
) -> Planned:
    """Plan `inputs` in the pool (a future), or here and now without one."""
    if pool is None:
        return plan_patients(inputs, catalogue, horizon_on)
    return pool.submit(_plan_in_worker, inputs, horizon_on)


def planned_of(planned: Planned) -> list[PlannedPatient]:
    """`plan_part`'s patients, waiting for the worker if need be."""
    return planned if isinstance(planned, list) else planned.result()


def rebuild_chunk(
    session: Session,
    patient_ids: Sequence[int],
    catalogue: Catalogue,
    horizon_on: date,
    pool: Executor | None,
) -> list[int]:
    """Replace the slots of `patient_ids` (those that still exist) and stamp their treatments,
    in the session's transaction; the ids rebuilt. The caller records them as rebuilt."""
    ids = _lock(session, sorted(patient_ids))
    parts = [ids[at : at + PART] for at in range(0, len(ids), PART)]
    pending = [plan_part(pool, read_inputs(session, part), catalogue, horizon_on) for part in parts]
    for part, planned in zip(parts, pending, strict=True):
        _write(session, part, planned_of(planned), catalogue, horizon_on)
    return ids


def _lock(session: Session, ids: list[int]) -> list[int]:
    """FOR NO KEY UPDATE on the patients' rows, in id order (as `slots.lock_patient`); the ids
    that exist."""
    if not ids:
        return []
    query = (
        select(Patient.id)
        .where(Patient.id.in_(ids))
        .order_by(Patient.id)
        .with_for_update(key_share=True)
    )
    return list(session.scalars(query))


def read_inputs(session: Session, ids: list[int]) -> list[PatientInputs]:
    """What planning `ids` needs, one query per table (what `slots.replace_slots` reads per
    patient through the ORM)."""
    connection = session.connection()
    patients = connection.execute(
        select(Patient.id, Patient.sex, Patient.status, Patient.status_on)
        .where(Patient.id.in_(ids))
        .order_by(Patient.id)
    ).all()
    treatments: dict[int, list[tuple[int, str, date, date | None]]] = defaultdict(list)
    for row in connection.execute(
        select(Treatment.patient_id, Treatment.id, Treatment.protocol, Treatment.started_on,
               Treatment.stopped_on)
        .where(Treatment.patient_id.in_(ids))
        .order_by(Treatment.patient_id, Treatment.started_on, Treatment.protocol, Treatment.id)
    ):  # fmt: skip
        treatments[row[0]].append((row[1], row[2], row[3], row[4]))
    days: dict[int, dict[int, list[date]]] = defaultdict(lambda: defaultdict(list))
    for treatment_id, course_id, infused_on in connection.execute(
        select(Course.treatment_id, Course.id, Infusion.infused_on)
        .join(Infusion, Infusion.course_id == Course.id)
        .where(Course.patient_id.in_(ids))
        .order_by(Course.treatment_id, Course.first_on, Course.id, Infusion.infused_on)
    ):
        days[treatment_id][course_id].append(infused_on)
    results: dict[int, list[CountedResult]] = defaultdict(list)
    for patient_id, analyte, collected_on in connection.execute(
        select(Result.patient_id, Result.analyte, Result.collected_on).where(
            Result.patient_id.in_(ids), Result.status.in_(COUNTING_STATUSES)
        )
    ):
        results[patient_id].append(CountedResult(analyte, collected_on))
    waived: dict[int, set[tuple[str, str, date]]] = defaultdict(set)
    for patient_id, protocol, panel, due_on in connection.execute(
        select(Waiver.patient_id, Waiver.protocol, Waiver.panel, Waiver.due_on).where(
            Waiver.patient_id.in_(ids)
        )
    ):
        waived[patient_id].add((protocol, panel, due_on))
    repeats = _repeats(session, ids)
    return [
        PatientInputs(
            patient_id=patient_id,
            sex=sex,
            stopped_on=status_on if status in STOPPED_STATUSES else None,
            treatments=tuple(
                (
                    treatment_id,
                    _domain_treatment(protocol, started_on, stopped_on, days.get(treatment_id, {})),
                )
                for treatment_id, protocol, started_on, stopped_on in treatments[patient_id]
            ),
            results=tuple(results[patient_id]),
            waived=frozenset(waived[patient_id]),
            repeats=tuple(repeats[patient_id]),
        )
        for patient_id, sex, status, status_on in patients
    ]


def _domain_treatment(
    protocol: str, started_on: date, stopped_on: date | None, courses: dict[int, list[date]]
) -> DomainTreatment:
    """As `slots.domain_treatment`: courses by first day, a courses treatment from its first."""
    found = sorted((DomainCourse(tuple(d)) for d in courses.values()), key=lambda c: c.first_on)
    first_on = found[0].first_on if found else started_on
    return DomainTreatment(protocol, first_on, stopped_on, tuple(found))


def _repeats(session: Session, ids: list[int]) -> dict[int, list[RepeatRequest]]:
    """As `slots.repeat_requests`, for every patient of `ids`."""
    found: dict[int, list[RepeatRequest]] = defaultdict(list)
    rows = session.connection().execute(
        select(Flag.patient_id, Result.analyte, Result.collected_on, Flag.repeat_due_on)
        .join(Result, Result.id == Flag.result_id)
        .where(
            Flag.patient_id.in_(ids),
            Flag.repeat_due_on.is_not(None),
            Flag.status != FlagStatus.SUPERSEDED,
            Result.status.in_(COUNTING_STATUSES),
        )
    )
    for patient_id, analyte, asked_on, due_on in rows:
        if patient_id is not None and due_on is not None:
            found[patient_id].append(RepeatRequest(analyte, asked_on, due_on))
    return found


def _changes(
    session: Session, ids: list[int], rows: list[tuple[Any, ...]]
) -> tuple[list[int], list[tuple[Any, ...]]]:
    """The stored slots of `ids` that `rows` no longer hold (their ids), and the rows not stored
    yet. A rebuild mostly plans what is stored (a protocol change moves a panel or two; a
    rebuild of a current clinic moves nothing), and a row left alone costs no write to the
    table and its five indexes; comparing costs one read."""
    columns = [SLOTS.c[name] for name in SLOT_COLUMNS]
    query = select(SLOTS.c.id, *columns).where(SLOTS.c.patient_id.in_(ids))
    stored = {tuple(row[1:]): row[0] for row in session.connection().execute(query)}
    if not stored:
        return [], rows
    new = [row for row in rows if row not in stored]
    kept = set(rows)
    return [slot_id for row, slot_id in stored.items() if row not in kept], new


def _write(
    session: Session,
    ids: list[int],
    planned: list[PlannedPatient],
    catalogue: Catalogue,
    horizon_on: date,
) -> None:
    """Replace the slots of `ids` by `planned`'s rows and stamp their treatments."""
    connection = session.connection()
    gone, new = _changes(session, ids, [row for patient in planned for row in patient.rows])
    for at in range(0, len(gone), DELETE_BATCH):
        connection.execute(delete(Slot).where(Slot.id.in_(gone[at : at + DELETE_BATCH])))
    insert_tuples_on(connection, SLOTS, SLOT_COLUMNS, new)
    stamps: list[dict[str, Any]] = [
        {
            "treatment_id": treatment_id,
            "fingerprint": catalogue.fingerprint(protocol),
            "planned_until_on": horizon_on if is_open else None,
        }
        for patient in planned
        for treatment_id, protocol, is_open in patient.stamps
    ]
    if stamps:
        table: Table = Treatment.__table__  # type: ignore[assignment]
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("treatment_id"))
            .values(
                schedule_fingerprint=bindparam("fingerprint"),
                planned_until_on=bindparam("planned_until_on"),
            ),
            stamps,
        )
