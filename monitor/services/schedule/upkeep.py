"""Slots that rebuild themselves: the unit of work notices which patients a transaction touched
and rebuilds their stored slots once, before it commits.

The slots table is a cache of the pure schedule (`services.schedule.slots`). Each writer used to
rebuild it by hand, and a writer that forgot would have left a stale schedule without a sound;
now no service rebuilds anything. After every flush the session's new, changed and deleted rows
are looked at (with their attribute history): a treatment, a course or an infusion; a result
added or deleted, or its status, collection date, analyte or patient changed; a waiver; a
patient's status, status date or sex; a flag that asks for a repeat, added, deleted,
superseded or with its repeat date changed. Each patient they belong to is *pending*. Before the
outermost commit every pending patient is locked, read again and rebuilt once, in id order (two
transactions lock patients in the same order), from the protocols the unit of work was opened
with (`store.db.session_catalogue`). A transaction with pending patients and no catalogue
refuses to commit (`MissingProtocol`, a programming error): stale slots are never committed.

Reading the slots table inside the same transaction settles first, as autoflush flushes before
a query: a reader never sees slots older than the transaction's own writes, and need not know
that it should ask. `settle` does it by hand (for reads that bypass the session), and
`bring_current` also rebuilds a patient whose slots came from another definition, for a writer
that looks a slot up (`waive_slot`). Everything else rebuilds at commit, so a batch of results
for one patient costs one rebuild.

New results only: a patient whose only change in the transaction is new results (a lab feed's
message) is not rebuilt; the slots those results can change are re-matched
(`services.schedule.rematch`, `domain.rematch`), which gives the rebuild's rows at a fraction of
its cost. A patient with any other change, or whose slots are not today's plan, is rebuilt.

Savepoints: a patient touched in a savepoint that is rolled back stays pending (rebuilding is
idempotent), and is skipped if their row no longer exists; a patient rebuilt early inside a
rolled-back savepoint is pending again (the rollback took the rebuild away).

The record: each commit appends one `slot_changes` row per patient it rebuilt, and per patient
whose line on the lists changed without a rebuild (a new patient, an MRN or a site). The web
cache reads it (`latest_change`, `patients_changed_since`) instead of watching tables.
Pruning: the daily cycle deletes rows older than `KEEP_CHANGES_DAYS` (`prune_changes`). The
cache never needs a row older than its snapshot, which it retakes every few minutes; a week
keeps the recent past readable for a person and the table small. SQLite never gives an id twice
(AUTOINCREMENT), so pruning cannot make an old stamp look new.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, event, func, insert, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import find_tables

from monitor import clock
from monitor.domain.catalogue import Catalogue
from monitor.domain.schedule import add_months
from monitor.domain.status import CountedResult
from monitor.domain.vocabulary import COUNTING_STATUSES, FlagStatus
from monitor.services.schedule.bulk_rebuild import PART, plan_part, planned_of
from monitor.services.schedule.rematch import update_for_patients
from monitor.services.schedule.slots import (
    PLAN_AHEAD_MONTHS,
    SLOT_COLUMNS,
    lock_patient,
    lock_patients,
    new_patient_inputs,
    replace_slots,
    stamp_treatments,
)
from monitor.store.bulk import insert_tuples_on
from monitor.store.db import session_catalogue
from monitor.store.models import (
    Course,
    Flag,
    Infusion,
    Patient,
    Result,
    Slot,
    SlotChange,
    Treatment,
    Waiver,
)

KEEP_CHANGES_DAYS = 7
UPKEEP_KEY = "slot_upkeep"
PLAN_FROM_KEY = "plan_from"
SLOTS: Table = Slot.__table__  # type: ignore[assignment]

# The attributes whose change moves a row's slots, by kind of row (None: any new or deleted row).
RESULT_FIELDS = ("status", "collected_on", "analyte", "patient_id")
WAIVER_FIELDS = ("protocol", "panel", "due_on", "patient_id")
TREATMENT_FIELDS = ("protocol", "started_on", "stopped_on", "patient_id")
COURSE_FIELDS = ("first_on", "last_on", "patient_id", "treatment_id")
PATIENT_FIELDS = ("status", "status_on", "sex")
LISTED_FIELDS = ("mrn", "site")  # shown on the lists' lines: recorded, nothing to rebuild


class MissingProtocol(RuntimeError):
    """A unit of work changed patients' records but was opened without the protocols."""

    def __init__(self, patients: int) -> None:
        super().__init__(
            f"this transaction changed the records of {patients} patient(s) but its unit of "
            "work has no protocols to rebuild their slots from; open it with "
            "unit_of_work(engine, catalogue)"
        )


@dataclass
class Upkeep:
    """What one transaction has touched (kept in `session.info`)."""

    pending: set[int] = field(default_factory=set)  # patients whose slots must be rebuilt
    fresh: dict[int, list[CountedResult]] = field(default_factory=dict)  # their new results
    courses: set[int] = field(default_factory=set)  # courses whose infusions changed
    rebuilt: set[int] = field(default_factory=set)  # rebuilt in this transaction already
    listed: set[int] = field(default_factory=set)  # lines changed, nothing to rebuild
    settling: bool = False

    def waiting(self) -> bool:
        return bool(self.pending or self.courses or self.fresh)


def upkeep_of(session: Session) -> Upkeep:
    found = session.info.get(UPKEEP_KEY)
    if found is None:
        found = session.info[UPKEEP_KEY] = Upkeep()
    assert isinstance(found, Upkeep)
    return found


def touch(session: Session, patient_ids: Iterable[int]) -> None:
    """Have these patients' slots rebuilt before the transaction commits (or settles)."""
    upkeep_of(session).pending.update(patient_ids)


def settle(session: Session) -> None:
    """Rebuild the pending patients now, so a read in this transaction sees fresh slots."""
    upkeep = upkeep_of(session)
    if upkeep.settling:
        return
    upkeep.settling = True
    try:
        session.flush()
        _rebuild_pending(session, upkeep)
    finally:
        upkeep.settling = False


def bring_current(session: Session, patient: Patient) -> None:
    """Before a writer looks up one of the patient's slots: settle, and rebuild the patient
    too if a treatment's slots were computed from another definition than the unit of work's."""
    catalogue = _catalogue(session, 1)
    current = catalogue.fingerprints()
    if any(t.schedule_fingerprint != current.get(t.protocol) for t in patient.treatments):
        touch(session, [patient.id])
    settle(session)


def _rebuild_pending(session: Session, upkeep: Upkeep) -> None:
    while upkeep.waiting():
        if upkeep.courses:
            courses, upkeep.courses = upkeep.courses, set()
            upkeep.pending.update(_patients_of_courses(session, courses))
        pending, upkeep.pending = upkeep.pending, set()
        fresh, upkeep.fresh = upkeep.fresh, {}
        everyone = sorted(pending | fresh.keys())  # locked in id order, as ever
        if everyone:
            catalogue = _catalogue(session, len(everyone))
            today = _planning_day(session)
            stale = _update_fresh(session, upkeep, everyone, (pending, fresh), catalogue, today)
            for patient_id in everyone:
                if patient_id in pending or patient_id in stale:
                    _rebuild_one(session, upkeep, patient_id, catalogue, today)
        session.flush()  # the fingerprints; touches nothing


def _rebuild_one(
    session: Session, upkeep: Upkeep, patient_id: int, catalogue: Catalogue, today: date
) -> None:
    """Lock, then read the patient as last committed (PostgreSQL), then replace the slots."""
    lock_patient(session, patient_id)
    patient = session.get(Patient, patient_id)
    if patient is None:  # added in a savepoint that was rolled back
        return
    replace_slots(session, patient, catalogue, today)
    upkeep.rebuilt.add(patient_id)


def store_new_schedules(
    session: Session, patients: Sequence[Patient], pool: Executor | None = None
) -> int:
    """Build and store, in a few bulk inserts, the slots of patients added in this transaction
    (the onboarding of a caseload); how many slot rows. The same plan as a rebuild
    (`slots.plan_patients`, `stamp_treatments`) without its per-patient reads: a new patient
    has no results, waivers or slots yet. `pool` (`bulk_rebuild.planner`) plans them in worker
    processes while the rows already planned are written. They count as rebuilt (a
    `slot_changes` row each), so the commit does not rebuild them again; a later change in the
    transaction pends them anew."""
    session.flush()
    upkeep = upkeep_of(session)
    catalogue = _catalogue(session, len(patients))
    horizon_on = add_months(_planning_day(session), PLAN_AHEAD_MONTHS)
    parts = [patients[at : at + PART] for at in range(0, len(patients), PART)]
    pending = [
        plan_part(pool, [new_patient_inputs(p) for p in part], catalogue, horizon_on)
        for part in parts
    ]
    stored = 0
    for part, planned in zip(parts, pending, strict=True):
        rows = [row for patient in planned_of(planned) for row in patient.rows]
        insert_tuples_on(session.connection(), SLOTS, SLOT_COLUMNS, rows)
        stored += len(rows)
        for patient in part:
            stamp_treatments(patient, catalogue, horizon_on)
    ids = {patient.id for patient in patients}
    upkeep.pending -= ids
    for patient_id in ids:
        upkeep.fresh.pop(patient_id, None)
    upkeep.courses -= {course.id for patient in patients for course in patient.courses}
    upkeep.rebuilt |= ids
    session.flush()  # the fingerprints; touches nothing
    return stored


def _update_fresh(
    session: Session,
    upkeep: Upkeep,
    everyone: list[int],
    touched: tuple[set[int], dict[int, list[CountedResult]]],
    catalogue: Catalogue,
    today: date,
) -> set[int]:
    """Lock every patient (one statement, in id order), then re-match only the slots the new
    results of those with nothing else pending can change (`services.schedule.rematch`, all of
    them at once); the patients whose slots are not today's plan and need the rebuild."""
    pending, fresh = touched
    existing = lock_patients(session, everyone)  # one added in a rolled-back savepoint is gone
    only_new = {p: fresh[p] for p in everyone if p not in pending and p in existing}
    stale = update_for_patients(session, only_new, catalogue, today)
    upkeep.rebuilt |= only_new.keys() - stale  # recorded like a rebuild; a rollback redoes it
    return stale


def record_rebuilt(session: Session, patient_ids: Iterable[int]) -> None:
    """The patients whose slots a bulk rebuild replaced in this transaction: recorded at commit
    like the unit of work's own rebuilds (`slot_changes`), and not rebuilt again unless touched
    anew."""
    upkeep = upkeep_of(session)
    ids = set(patient_ids)
    upkeep.pending -= ids
    upkeep.rebuilt |= ids


def planning_horizon(session: Session) -> date:
    """How far ahead this transaction's rebuilds plan open-ended series."""
    return add_months(_planning_day(session), PLAN_AHEAD_MONTHS)


def plan_from(session: Session, day: date) -> None:
    """Plan open-ended series ahead of `day` in this transaction's rebuilds, when it is later
    than today (a daily cycle for a clinic date ahead of the wall clock's, as a catch-up or a
    simulation runs)."""
    session.info[PLAN_FROM_KEY] = day


def _planning_day(session: Session) -> date:
    """The day open-ended series are planned from: today, or a later day set by `plan_from`."""
    today = clock.now_utc().date()
    given = session.info.get(PLAN_FROM_KEY)
    return max(today, given) if isinstance(given, date) else today


def _catalogue(session: Session, patients: int) -> Catalogue:
    catalogue = session_catalogue(session)
    if catalogue is None:
        raise MissingProtocol(patients)
    return catalogue


def _patients_of_courses(session: Session, course_ids: set[int]) -> set[int]:
    query = select(Course.patient_id).where(Course.id.in_(course_ids))
    return set(session.scalars(query))


# --- the record ---------------------------------------------------------------------------------


def _record(session: Session, upkeep: Upkeep) -> None:
    """One `slot_changes` row per patient rebuilt or re-listed in this transaction."""
    listed = upkeep.listed - upkeep.rebuilt
    if listed:
        found = select(Patient.id).where(Patient.id.in_(listed))
        listed = set(session.scalars(found))
    changed = sorted(upkeep.rebuilt | listed)
    if changed:
        at = clock.now_utc()  # the unit of work has no `now` of its own
        rows = [{"patient_id": patient_id, "changed_at": at} for patient_id in changed]
        session.execute(insert(SlotChange), rows)


def latest_change(session: Session) -> int:
    """The id of the newest change record (0 when there is none)."""
    return session.scalar(select(func.max(SlotChange.id))) or 0


def patients_changed_since(session: Session, last: int) -> set[int]:
    """The patients of the change records after the id `last`."""
    return set(session.scalars(select(SlotChange.patient_id).where(SlotChange.id > last)))


def prune_changes(session: Session, now: datetime) -> int:
    """Delete the change records older than `KEEP_CHANGES_DAYS`; how many went."""
    before = now - timedelta(days=KEEP_CHANGES_DAYS)
    done = session.execute(delete(SlotChange).where(SlotChange.changed_at < before))
    return int(getattr(done, "rowcount", 0) or 0)


# --- what a flush touched -----------------------------------------------------------------------


def _history(row: Any, name: str) -> tuple[list[Any], bool]:
    """Every value the attribute held in this flush (before and after), and whether it changed."""
    history = inspect(row).attrs[name].history
    values = [*history.added, *history.unchanged, *history.deleted]
    return [value for value in values if value is not None], history.has_changes()


def _values(row: Any, name: str) -> list[Any]:
    return _history(row, name)[0]


def _changed(row: Any, names: Iterable[str]) -> bool:
    return any(_history(row, name)[1] for name in names)


def _collect(session: Session, upkeep: Upkeep) -> None:
    new = session.new  # a fresh set on every read: once, not once per row (a bulk flush)
    for row in (*new, *session.deleted):
        _collect_whole(upkeep, row, is_new=row in new)
    for row in session.dirty:
        _collect_changed(upkeep, row)


def _collect_whole(upkeep: Upkeep, row: object, *, is_new: bool) -> None:
    if isinstance(row, Result) and is_new:
        _collect_new_result(upkeep, row)
    elif isinstance(row, Treatment | Course | Result | Waiver):
        upkeep.pending.update(_values(row, "patient_id"))
    elif isinstance(row, Infusion):
        upkeep.courses.update(_values(row, "course_id"))
    elif isinstance(row, Patient) and is_new:
        upkeep.listed.add(row.id)
    elif isinstance(row, Flag) and _values(row, "repeat_due_on"):
        upkeep.pending.update(_values(row, "patient_id"))


def _collect_new_result(upkeep: Upkeep, result: Result) -> None:
    """A new result re-matches only the slots it can change; one that does not count (yet)
    changes none (if it comes to count, that is a change, and rebuilds)."""
    if result.status is None or result.status in COUNTING_STATUSES:  # None: FINAL, the default
        counted = CountedResult(result.analyte, result.collected_on)
        upkeep.fresh.setdefault(result.patient_id, []).append(counted)


def _collect_changed(upkeep: Upkeep, row: object) -> None:
    if isinstance(row, Treatment):
        if _changed(row, TREATMENT_FIELDS):
            upkeep.pending.update(_values(row, "patient_id"))
    elif isinstance(row, Course):
        if _changed(row, COURSE_FIELDS):
            upkeep.pending.update(_values(row, "patient_id"))
    elif isinstance(row, Infusion):
        if _changed(row, ("infused_on", "course_id")):
            upkeep.courses.update(_values(row, "course_id"))
    elif isinstance(row, Result):
        if _changed(row, RESULT_FIELDS):
            upkeep.pending.update(_values(row, "patient_id"))
    elif isinstance(row, Waiver):
        if _changed(row, WAIVER_FIELDS):
            upkeep.pending.update(_values(row, "patient_id"))
    elif isinstance(row, Patient):
        _collect_patient(upkeep, row)
    elif isinstance(row, Flag):
        if _moves_repeat(row):
            upkeep.pending.update(_values(row, "patient_id"))


def _moves_repeat(flag: Flag) -> bool:
    """A flag asking for a repeat whose date changed, or that was superseded (or restored).
    Acknowledging one moves nothing: the repeat is still asked for."""
    if not _values(flag, "repeat_due_on"):
        return False
    if _changed(flag, ("repeat_due_on",)):
        return True
    return _changed(flag, ("status",)) and FlagStatus.SUPERSEDED in _values(flag, "status")


def _collect_patient(upkeep: Upkeep, patient: Patient) -> None:
    if _changed(patient, PATIENT_FIELDS):
        upkeep.pending.add(patient.id)
    elif _changed(patient, LISTED_FIELDS):
        upkeep.listed.add(patient.id)


WATCHED = (Treatment, Course, Infusion, Result, Waiver, Patient, Flag)


def _unflushed(session: Session) -> Iterator[object]:
    for rows in (session.new, session.dirty, session.deleted):
        yield from (row for row in rows if isinstance(row, WATCHED))


# --- the session events -------------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    """After, not before: new rows have their ids and foreign keys then (history still holds)."""
    _collect(session, upkeep_of(session))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the outermost commit rebuilds
    upkeep = upkeep_of(session)
    settle(session)
    _record(session, upkeep)


@event.listens_for(Session, "do_orm_execute")
def _before_reading(state: ORMExecuteState) -> None:
    """A read of the slots table settles first (like autoflush; `no_autoflush` is respected)."""
    session = state.session
    upkeep = session.info.get(UPKEEP_KEY)
    if not state.is_select or not session.autoflush or (upkeep is not None and upkeep.settling):
        return
    if (upkeep is None or not upkeep.waiting()) and next(_unflushed(session), None) is None:
        return
    if isinstance(state.statement, ClauseElement) and SLOTS in find_tables(state.statement):
        settle(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    """A savepoint rolled back takes its rebuilds with it: those patients are pending again."""
    upkeep = session.info.get(UPKEEP_KEY)
    if upkeep is not None and previous.nested:
        upkeep.pending |= upkeep.rebuilt
        upkeep.rebuilt = set()


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(UPKEEP_KEY, None)
