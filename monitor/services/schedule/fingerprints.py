"""Whether the stored schedules come from the configured protocol, and rebuilding them if not.

Each patient carries the fingerprint of the protocol their stored slots were computed from
(`Patient.schedule_fingerprint`, written at every rebuild of their slots). A patient
who has slots and whose fingerprint is not the configuration's (or unknown: NULL) is *stale*.
Readers of slots refuse while any patient is stale (`StaleSchedules`); writers are not
refused: rebuilding one patient with the current protocol stamps that patient fresh, whatever
the others hold.

`rebuild_schedules` works in chunks of patients, one transaction each, so a long rebuild keeps
what it has done if it is stopped or killed, and leaves the rest stale (a restart continues).
It only names each chunk's patients to the unit of work (`services.schedule.upkeep.touch`), which
locks each one, reads their record as last committed, rebuilds them and records the change
before the chunk commits (so the web cache sees a rebuild too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from monitor.domain.protocol import Protocol, protocol_fingerprint
from monitor.errors import MonitorError
from monitor.services.schedule.upkeep import touch
from monitor.store.db import unit_of_work
from monitor.store.models import Patient, Slot

REBUILD_CHUNK = 50  # patients per transaction: under 2 s of SQLite write lock on a busy machine


class StaleSchedules(MonitorError):
    """Stored slots were computed from another protocol than the configured one (exit 1)."""

    def __init__(self, stale_patients: int) -> None:
        super().__init__(
            f"the stored schedules of {stale_patients} patient(s) were computed from a different "
            "[protocol] than the configuration's; run `monitor db rebuild` to recompute them "
            "(`monitor run` also does it when it starts)"
        )
        self.stale_patients = stale_patients


def stale(fingerprint: str) -> ColumnElement[bool]:
    """Patients with stored slots not computed from the protocol with this fingerprint."""
    other = or_(Patient.schedule_fingerprint.is_(None), Patient.schedule_fingerprint != fingerprint)
    return and_(other, exists().where(Slot.patient_id == Patient.id))


def count_stale_patients(session: Session, protocol: Protocol) -> int:
    query = select(func.count(Patient.id)).where(stale(protocol_fingerprint(protocol)))
    return session.scalar(query) or 0


def schedules_are_current(session: Session, protocol: Protocol) -> bool:
    """True when every stored slot was computed from `protocol` (an empty database is)."""
    query = select(Patient.id).where(stale(protocol_fingerprint(protocol))).limit(1)
    return session.scalar(query) is None


def require_current_schedules(session: Session, protocol: Protocol) -> None:
    """Raise StaleSchedules unless every stored slot was computed from `protocol`."""
    if not schedules_are_current(session, protocol):
        raise StaleSchedules(count_stale_patients(session, protocol))


@dataclass(frozen=True)
class RebuildProgress:
    done: int
    total: int


def rebuild_schedules(
    engine: Engine,
    protocol: Protocol,
    *,
    only_stale: bool,
    chunk_size: int = REBUILD_CHUNK,
    on_chunk: Callable[[RebuildProgress], None] = lambda _progress: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RebuildProgress:
    """Rebuild the slots of every patient (or only the stale ones) from `protocol`, committing
    after each chunk and reporting progress; stops between chunks when `should_stop()`.

    Patients are taken in id order after the last one done, so patients added meanwhile are
    taken too, and a patient changed meanwhile is rebuilt by that change with its writer's
    protocol (the same one, unless the writer runs with another configuration: then that
    patient stays stale and the readers keep refusing).
    """
    wanted = stale(protocol_fingerprint(protocol)) if only_stale else Patient.id.is_not(None)
    with unit_of_work(engine) as session:
        total = session.scalar(select(func.count(Patient.id)).where(wanted)) or 0
    done, last_id = 0, 0
    while not should_stop():
        with unit_of_work(engine, protocol) as session:
            ids = session.scalars(
                select(Patient.id)
                .where(wanted, Patient.id > last_id)
                .order_by(Patient.id)
                .limit(chunk_size)
            ).all()
            touch(session, ids)  # each locked, then read as last committed, at commit
        if not ids:
            break
        done, last_id = done + len(ids), ids[-1]
        total = max(total, done)
        on_chunk(RebuildProgress(done, total))
    return RebuildProgress(done, total)
