"""Whether the stored schedules come from the configured protocols, and rebuilding them if not.

Each treatment carries the fingerprint of its protocol's definition its stored slots were
computed from (`Treatment.schedule_fingerprint`, written at every rebuild of the patient's
slots). A patient with a treatment whose fingerprint is not its protocol's current one (or
unknown: NULL, or a protocol no longer configured) is *stale*, so a change to one protocol makes
only the patients on it stale, and only they are rebuilt (SPEC §10.3). Readers of slots refuse
while any patient is stale (`StaleSchedules`); writers are not refused: rebuilding one patient
with the current protocols stamps that patient fresh, whatever the others hold.

`rebuild_schedules` works in chunks of patients, one transaction each, so a long rebuild keeps
what it has done if it is stopped or killed, and leaves the rest stale (a restart continues).
Each chunk is rebuilt in bulk (`services.schedule.bulk_rebuild`: its patients locked, read as
last committed with one query per table, planned in a process pool, written with COPY on
PostgreSQL) and recorded as rebuilt in the chunk's own transaction (so the web cache sees it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, case, exists, func, null, or_, select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.errors import MonitorError
from monitor.services.schedule.bulk_rebuild import planner, rebuild_chunk, workers_for
from monitor.services.schedule.upkeep import planning_horizon, record_rebuilt
from monitor.store.db import unit_of_work
from monitor.store.models import Patient, Treatment

REBUILD_CHUNK = 200  # patients per transaction: a short SQLite write lock, 4 parts for the pool


class StaleSchedules(MonitorError):
    """Stored slots were computed from other protocol definitions than the configured ones
    (exit 1)."""

    def __init__(self, stale_patients: int) -> None:
        super().__init__(
            f"the stored schedules of {stale_patients} patient(s) were computed from a different "
            "protocol definition than the configuration's; run `monitor db rebuild` to recompute "
            "them (`monitor run` also does it when it starts)"
        )
        self.stale_patients = stale_patients


def stale(catalogue: Catalogue) -> ColumnElement[bool]:
    """Patients with a treatment whose slots were not computed from its protocol's current
    definition (never built, built by an older algorithm, or a protocol no longer configured)."""
    fingerprints = catalogue.fingerprints()
    current = case(fingerprints, value=Treatment.protocol, else_=null()) if fingerprints else null()
    differs = or_(
        Treatment.schedule_fingerprint.is_(None),
        current.is_(None),
        Treatment.schedule_fingerprint != current,
    )
    return exists().where(Treatment.patient_id == Patient.id, differs)


def count_stale_patients(session: Session, catalogue: Catalogue) -> int:
    query = select(func.count(Patient.id)).where(stale(catalogue))
    return session.scalar(query) or 0


def schedules_are_current(session: Session, catalogue: Catalogue) -> bool:
    """True when every stored slot was computed from `catalogue` (an empty database is)."""
    query = select(Patient.id).where(stale(catalogue)).limit(1)
    return session.scalar(query) is None


def require_current_schedules(session: Session, catalogue: Catalogue) -> None:
    """Raise StaleSchedules unless every stored slot was computed from `catalogue`."""
    if not schedules_are_current(session, catalogue):
        raise StaleSchedules(count_stale_patients(session, catalogue))


@dataclass(frozen=True)
class RebuildProgress:
    done: int
    total: int


def rebuild_schedules(
    engine: Engine,
    catalogue: Catalogue,
    *,
    only_stale: bool,
    chunk_size: int = REBUILD_CHUNK,
    on_chunk: Callable[[RebuildProgress], None] = lambda _progress: None,
    should_stop: Callable[[], bool] = lambda: False,
    workers: int | None = None,
) -> RebuildProgress:
    """Rebuild the slots of every patient (or only the stale ones) from `catalogue`, committing
    after each chunk and reporting progress; stops between chunks when `should_stop()`.
    `workers`: processes planning the slots (None: one per CPU for a large rebuild, 0: none).

    Patients are taken in id order after the last one done, so patients added meanwhile are
    taken too, and a patient changed meanwhile is rebuilt by that change with its writer's
    protocols (the same ones, unless the writer runs with another configuration: then that
    patient stays stale and the readers keep refusing).
    """
    wanted = stale(catalogue) if only_stale else Patient.id.is_not(None)
    with unit_of_work(engine) as session:
        total = session.scalar(select(func.count(Patient.id)).where(wanted)) or 0
    done, last_id = 0, 0
    with planner(catalogue, workers_for(total, workers)) as pool:
        while not should_stop():
            with unit_of_work(engine, catalogue) as session:
                ids = session.scalars(
                    select(Patient.id)
                    .where(wanted, Patient.id > last_id)
                    .order_by(Patient.id)
                    .limit(chunk_size)
                ).all()
                horizon_on = planning_horizon(session)
                record_rebuilt(session, rebuild_chunk(session, ids, catalogue, horizon_on, pool))
            if not ids:
                break
            done, last_id = done + len(ids), ids[-1]
            total = max(total, done)
            on_chunk(RebuildProgress(done, total))
    return RebuildProgress(done, total)
