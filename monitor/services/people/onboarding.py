"""Onboarding a clinic's existing caseload from its spreadsheet (issue 14 item 1): check every
row first, then write the good patients in chunks.

Checking (`check_caseload`, one read-only transaction) groups the rows by MRN and applies the
rules the one-at-a-time commands apply, through the same functions: the patient's details
(`patients.checked_details`, what `add_patient` stores), a course (`courses.courses_plan`,
`domain.courses.make_course`, `order_courses` against the patient's other courses of the
protocol), a continuous treatment (`treatments.continuous_plan`, `check_start`, `check_stop`).
Every row of one MRN must give the same patient details.

An MRN already on record (decisions.md, "Onboarding"): a detail the record lacks and the file
gives is filled in (audited, the patient counts as *updated*); a detail that differs from the
record is a bad row naming the field, never an overwrite (a spreadsheet is often older than the
record; `patient edit` is the way to change it). A course whose dates the record already holds,
or a treatment with the same start and stop, is already there (nothing to add); so importing
the same file twice changes nothing the second time.

Writing (`write_caseload`) takes `CHUNK_PATIENTS` patients per transaction. New patients are
added as rows directly (the rows `add_patient`, `add_course` and `start_treatment` add, audited
as they audit) and their slots stored in bulk (`upkeep.store_new_schedules`, the same plan as a
rebuild); a patient already on record goes through the services one by one. A database fault in
a chunk rolls that chunk back and says how many patients the earlier chunks committed
(`PartlyWritten`); importing the same file again then adds only the rest.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.domain.courses import Course, make_course, order_courses
from monitor.errors import Field, InvalidInput, MonitorError
from monitor.services.audit import record_change
from monitor.services.operations.database import describe_fault
from monitor.services.people.courses import add_course, courses_plan
from monitor.services.people.patients import PatientDetails, checked_details, new_patient
from monitor.services.people.treatments import (
    Span,
    catalogue_of,
    check_start,
    check_stop,
    continuous_plan,
    start_treatment,
    stop_treatment,
)
from monitor.services.schedule.bulk_rebuild import planner, workers_for
from monitor.services.schedule.slots import domain_courses
from monitor.services.schedule.upkeep import store_new_schedules
from monitor.store import models
from monitor.store.db import unit_of_work
from monitor.store.queries import find_patient

PATIENT_COLUMNS = ("mrn", "name", "dob", "sex", "site", "email", "phone", "address", "channel")
TREATMENT_COLUMNS = ("course_dates", "protocol", "started_on", "stopped_on")
ALL_COLUMNS = PATIENT_COLUMNS + TREATMENT_COLUMNS
CHUNK_PATIENTS = 500
DEFAULT_SITE = "main"
# The file's words for the fields a service may refuse: its column names.
COLUMN_OF_FIELD: dict[Field, str] = {
    Field.MRN: "mrn",
    Field.NAME: "name",
    Field.BORN_ON: "dob",
    Field.SEX: "sex",
    Field.SITE: "site",
    Field.EMAIL: "email",
    Field.PHONE: "phone",
    Field.ADDRESS: "address",
    Field.CHANNEL: "channel",
}
# (column, the stored patient's attribute, the details' attribute) compared with a record.
_COMPARED = (
    ("name", "name"),
    ("dob", "born_on"),
    ("sex", "sex"),
    ("site", "site"),
    ("email", "email"),
    ("phone", "phone"),
    ("address", "address"),
    ("channel", "channel"),
)


@dataclass(frozen=True)
class CaseloadRow:
    """One row of the file as read (typed, not yet checked): a patient and one course (its
    dates) or one continuous treatment (`started_on`), or neither (the patient alone)."""

    line: int
    mrn: str
    name: str
    born_on: date | None = None
    sex: str | None = None
    site: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    channel: str | None = None
    protocol: str | None = None
    course_dates: tuple[date, ...] = ()
    started_on: date | None = None
    stopped_on: date | None = None

    def patient_values(self) -> tuple[object, ...]:
        """The patient's columns after `mrn`, as `PATIENT_COLUMNS[1:]` names them."""
        return (
            self.name.strip(),
            self.born_on,
            self.sex,
            self.site,
            self.email,
            self.phone,
            self.address,
            self.channel,
        )


@dataclass(frozen=True)
class RowError:
    """A row that is not imported, by its line in the file, and why."""

    line: int
    mrn: str
    reason: str
    blocked_by: int | None = None  # good itself, left out for this bad line of the same MRN


@dataclass(frozen=True)
class NewCourse:
    line: int
    protocol: str
    course: Course


@dataclass(frozen=True)
class NewTreatment:
    line: int
    protocol: str
    started_on: date
    stopped_on: date | None


@dataclass(frozen=True)
class NewStop:
    """An open treatment on record that the file says has stopped."""

    line: int
    protocol: str
    stopped_on: date


@dataclass
class PatientChange:
    """What importing one patient's rows changes."""

    mrn: str
    lines: list[int]
    details: PatientDetails
    existing: bool
    fills: dict[str, Any] = field(default_factory=dict)  # attribute -> value the record lacks
    courses: list[NewCourse] = field(default_factory=list)
    treatments: list[NewTreatment] = field(default_factory=list)
    stops: list[NewStop] = field(default_factory=list)

    @property
    def state(self) -> str:
        """`new`, `updated` (details filled in or something added) or `unchanged`."""
        if not self.existing:
            return "new"
        return (
            "updated"
            if self.fills or self.courses or self.treatments or self.stops
            else ("unchanged")
        )


@dataclass
class ImportPlan:
    """The checked file: the good patients' changes and every bad row."""

    rows: int
    changes: list[PatientChange]
    errors: list[RowError]
    skipped_patients: int

    def counts(self) -> dict[str, Any]:
        states = [change.state for change in self.changes]
        return {
            "rows": self.rows,
            "patients": {
                "new": states.count("new"),
                "updated": states.count("updated"),
                "unchanged": states.count("unchanged"),
                "skipped": self.skipped_patients,
            },
            "courses_added": sum(len(change.courses) for change in self.changes),
            "treatments_added": sum(len(change.treatments) for change in self.changes),
            "treatments_stopped": sum(len(change.stops) for change in self.changes),
            "bad_rows": len({e.line for e in self.errors if e.blocked_by is None}),
            "rows_left_out": len({error.line for error in self.errors}),
        }


class PartlyWritten(MonitorError):
    """A database fault stopped the import after some chunks had committed."""

    def __init__(self, committed: int, total: int, last_line: int | None, fault: str) -> None:
        self.committed = committed
        where = f" (up to line {last_line})" if last_line is not None else ""
        super().__init__(
            f"the import stopped: {fault}. {committed:,} of {total:,} patients to write were "
            f"committed{where}, the rest were not; fix the fault and import the same file "
            "again (the patients already written are then unchanged)"
        )


# --- checking -----------------------------------------------------------------------------------


def check_caseload(
    session: Session, rows: Sequence[CaseloadRow], unread: Sequence[RowError], *, today: date
) -> ImportPlan:
    """Check every row (nothing is written); a patient with any bad row is left out whole
    and each of their rows listed (the good ones as not imported because of the bad one)."""
    catalogue = catalogue_of(session)
    errors: list[RowError] = list(unread)
    groups: dict[str, list[CaseloadRow]] = {}
    for row in rows:
        if not row.mrn.strip():
            errors.append(RowError(row.line, "", "mrn must not be empty"))
        else:
            groups.setdefault(row.mrn.strip(), []).append(row)
    unreadable = {error.mrn.strip(): error.line for error in unread if error.mrn.strip()}
    records = _records(session, list(groups))
    changes: list[PatientChange] = []
    skipped = len(unreadable.keys() - groups.keys())
    for mrn, group in groups.items():
        found = _check_patient(mrn, group, records.get(mrn), catalogue, today)
        if mrn in unreadable and isinstance(found, PatientChange):
            found = _left_out(mrn, group, [], unreadable[mrn])
        if isinstance(found, PatientChange):
            changes.append(found)
        else:
            errors.extend(found)
            skipped += 1
    errors.sort(key=lambda error: error.line)
    return ImportPlan(len(rows) + len(unread), changes, errors, skipped)


def _records(session: Session, mrns: list[str]) -> dict[str, models.Patient]:
    """The patients on record among `mrns`, with treatments and courses (a few queries)."""
    found: dict[str, models.Patient] = {}
    for start in range(0, len(mrns), CHUNK_PATIENTS):
        query = (
            select(models.Patient)
            .where(models.Patient.mrn.in_(mrns[start : start + CHUNK_PATIENTS]))
            .options(
                selectinload(models.Patient.treatments)
                .selectinload(models.Treatment.courses)
                .selectinload(models.Course.infusions)
            )
        )
        found.update((patient.mrn, patient) for patient in session.scalars(query))
    return found


def _worded(error: InvalidInput) -> str:
    return error.worded(COLUMN_OF_FIELD)


def _left_out(
    mrn: str, group: Sequence[CaseloadRow], errors: list[RowError], bad_line: int | None = None
) -> list[RowError]:
    """`errors`, and each other row of the patient as not imported because of the first bad."""
    first_bad = bad_line if bad_line is not None else min(error.line for error in errors)
    bad = {error.line for error in errors} | {first_bad}
    others = [
        RowError(row.line, mrn, f"not imported: line {first_bad} of the same MRN is bad", first_bad)
        for row in group
        if row.line not in bad
    ]
    return errors + others


def _check_patient(
    mrn: str,
    group: list[CaseloadRow],
    record: models.Patient | None,
    catalogue: Catalogue,
    today: date,
) -> PatientChange | list[RowError]:
    first = group[0]
    errors = _disagreements(mrn, group)
    try:
        details = checked_details(
            mrn=first.mrn,
            name=first.name,
            email=first.email,
            born_on=first.born_on,
            sex=first.sex,
            site=first.site or DEFAULT_SITE,
            phone=first.phone,
            address=first.address,
            channel=first.channel,
            today=today,
        )
    except InvalidInput as error:
        return _left_out(mrn, group, [RowError(first.line, mrn, _worded(error)), *errors])
    change = PatientChange(mrn, [row.line for row in group], details, existing=record is not None)
    if record is not None:
        conflict = _compare(change, record, first)
        if conflict:
            errors.append(RowError(first.line, mrn, conflict))
    errors.extend(_check_courses(change, group, record, catalogue))
    errors.extend(_check_treatments(change, group, record, catalogue))
    if errors:
        return _left_out(mrn, group, sorted(errors, key=lambda error: error.line))
    return change


def _disagreements(mrn: str, group: list[CaseloadRow]) -> list[RowError]:
    first = group[0]
    errors = []
    for row in group[1:]:
        differ = [
            column
            for column, mine, theirs in zip(
                PATIENT_COLUMNS[1:], row.patient_values(), first.patient_values(), strict=True
            )
            if mine != theirs
        ]
        if differ:
            errors.append(
                RowError(
                    row.line,
                    mrn,
                    f"{', '.join(differ)} differ(s) from line {first.line} of the same MRN "
                    "(every row of a patient must give the same details)",
                )
            )
    return errors


def _compare(change: PatientChange, record: models.Patient, row: CaseloadRow) -> str | None:
    """Fill the details the record lacks; the columns that differ from the record, worded."""
    given = {
        "site": row.site is not None,
        "channel": row.channel is not None,
    }
    differ = []
    for column, attribute in _COMPARED:
        mine = getattr(change.details, attribute)
        theirs = getattr(record, attribute)
        if mine is None or not given.get(column, True) or mine == theirs:
            continue
        if theirs is None:
            change.fills[attribute] = mine
        else:
            differ.append(column)
    if not differ:
        return None
    return (
        f"{', '.join(differ)} differ(s) from the record of MRN {change.mrn}: the import does not "
        "overwrite a record (correct it with `monitor patient edit`, or the file)"
    )


def _check_courses(
    change: PatientChange,
    group: list[CaseloadRow],
    record: models.Patient | None,
    catalogue: Catalogue,
) -> list[RowError]:
    """Each course row on its own, then against the patient's other courses of its protocol
    in date order, as `add_course` one at a time would."""
    errors: list[RowError] = []
    candidates: dict[str, list[NewCourse]] = {}
    for row in group:
        if not row.course_dates:
            continue
        protocol = row.protocol or DEFAULT_PROTOCOL_ID
        try:
            if row.started_on is not None or row.stopped_on is not None:
                raise InvalidInput("give course_dates, or started_on for a treatment, not both")
            courses_plan(catalogue, protocol)
            course = make_course(row.course_dates)
        except InvalidInput as error:
            errors.append(RowError(row.line, change.mrn, _worded(error)))
            continue
        candidates.setdefault(protocol, []).append(NewCourse(row.line, protocol, course))
    for protocol, found in candidates.items():
        recorded = _recorded_courses(record, protocol)
        accepted = list(recorded)
        for new in sorted(found, key=lambda item: item.course.first_on):
            if new.course in recorded:
                continue  # already on record
            try:
                order_courses([*accepted, new.course])
            except InvalidInput as error:
                errors.append(RowError(new.line, change.mrn, _worded(error)))
                continue
            accepted.append(new.course)
            change.courses.append(new)
    return errors


def _recorded_courses(record: models.Patient | None, protocol: str) -> tuple[Course, ...]:
    if record is None:
        return ()
    for treatment in record.treatments:
        if treatment.protocol == protocol:
            return domain_courses(treatment)
    return ()


def _check_treatments(
    change: PatientChange,
    group: list[CaseloadRow],
    record: models.Patient | None,
    catalogue: Catalogue,
) -> list[RowError]:
    """Each treatment row on its own, then in start order against the patient's treatments of
    the protocol, as `start_treatment` and `stop_treatment` one at a time would."""
    errors: list[RowError] = []
    rows = [row for row in group if not row.course_dates]
    for row in sorted(rows, key=lambda row: (row.started_on or date.min, row.line)):
        if row.started_on is None:
            if row.protocol is not None or row.stopped_on is not None:
                message = "give started_on (or course_dates) with protocol and stopped_on"
                errors.append(RowError(row.line, change.mrn, message))
            continue
        try:
            _check_treatment(change, row, record, catalogue)
        except InvalidInput as error:
            errors.append(RowError(row.line, change.mrn, _worded(error)))
    return errors


def _check_treatment(
    change: PatientChange, row: CaseloadRow, record: models.Patient | None, catalogue: Catalogue
) -> None:
    assert row.started_on is not None
    if row.protocol is None:
        raise InvalidInput("give the protocol of the treatment started_on")
    plan = continuous_plan(catalogue, row.protocol, "start")
    if row.stopped_on is not None:
        check_stop(row.started_on, row.stopped_on)
    recorded = [t for t in (record.treatments if record else []) if t.protocol == plan.id]
    same = next((t for t in recorded if t.started_on == row.started_on), None)
    if same is not None:
        if same.stopped_on == row.stopped_on:
            return  # already on record
        if same.stopped_on is None and row.stopped_on is not None:
            change.stops.append(NewStop(row.line, plan.id, row.stopped_on))
            return
        raise InvalidInput(
            f"the record's {plan.id} treatment started {same.started_on} stopped on "
            f"{same.stopped_on or 'no date (open)'}; the file says "
            f"{row.stopped_on or 'open'}: the import does not overwrite a record"
        )
    earlier: list[Span] = [*recorded, *(t for t in change.treatments if t.protocol == plan.id)]
    check_start(change.mrn, plan.id, earlier, row.started_on)
    change.treatments.append(NewTreatment(row.line, plan.id, row.started_on, row.stopped_on))


# --- writing ------------------------------------------------------------------------------------


@dataclass
class WriteOutcome:
    patients: int = 0  # patients written (new or updated)
    slots: int = 0  # slot rows stored in bulk for new patients


def write_caseload(
    engine: Engine,
    catalogue: Catalogue,
    plan: ImportPlan,
    *,
    actor: str,
    now: datetime,
    chunk: int = CHUNK_PATIENTS,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> WriteOutcome:
    """Write the plan's new and updated patients, `chunk` per transaction (one unit of work
    each); `progress` is told how many patients each committed chunk held. `workers`: processes
    planning the new patients' slots (None: one per CPU for a large caseload, 0: none)."""
    todo = [change for change in plan.changes if change.state != "unchanged"]
    outcome = WriteOutcome()
    with planner(catalogue, workers_for(len(todo), workers)) as pool:
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            try:
                with _collector_paused(), unit_of_work(engine, catalogue) as session:
                    slots = _write_chunk(session, part, actor, now, pool)
            except SQLAlchemyError as error:
                last = max((line for c in todo[:start] for line in c.lines), default=None)
                fault = str(describe_fault(error, None))
                raise PartlyWritten(outcome.patients, len(todo), last, fault) from error
            outcome.patients += len(part)
            outcome.slots += slots
            if progress is not None:
                progress(len(part))
    return outcome


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a chunk is built: each of its passes walks every live
    ORM object and slot row, none of which is garbage before the chunk commits (a fifth of the
    import's CPU time when measured). It runs again after the chunk."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write_chunk(
    session: Session,
    part: Sequence[PatientChange],
    actor: str,
    now: datetime,
    pool: Executor | None,
) -> int:
    added = [(change, _new_rows(change, now)) for change in part if not change.existing]
    session.add_all(patient for _, patient in added)
    session.flush()
    for change, patient in added:
        _audit_new(session, change, patient, actor, now)
    slots = store_new_schedules(session, [patient for _, patient in added], pool)
    for change in part:
        if change.existing:
            _update(session, change, actor, now)
    return slots


def _new_rows(change: PatientChange, now: datetime) -> models.Patient:
    """The rows `add_patient`, then `add_course` for each course and `start_treatment` (and
    `stop_treatment`) for each treatment, would have added."""
    patient = new_patient(change.details, now)
    # Set every collection the slots and the audit read: a collection never set on a new row
    # is loaded from the database when read after the flush (one query per patient).
    patient.courses, patient.treatments = [], []
    by_protocol: dict[str, models.Treatment] = {}
    for new in sorted(change.courses, key=lambda item: item.course.first_on):
        treatment = by_protocol.get(new.protocol)
        if treatment is None:
            treatment = models.Treatment(
                protocol=new.protocol, started_on=new.course.first_on, created_at=now, courses=[]
            )
            by_protocol[new.protocol] = treatment
            patient.treatments.append(treatment)
        row = models.Course(
            first_on=new.course.first_on, last_on=new.course.last_on, created_at=now
        )
        row.infusions = [models.Infusion(infused_on=day) for day in new.course.dates]
        row.patient = patient
        treatment.courses.append(row)
    for started in change.treatments:
        patient.treatments.append(
            models.Treatment(
                protocol=started.protocol,
                started_on=started.started_on,
                stopped_on=started.stopped_on,
                created_at=now,
                courses=[],
            )
        )
    return patient


def _audit_new(
    session: Session, change: PatientChange, patient: models.Patient, actor: str, now: datetime
) -> None:
    def record(action: str, entity: str, entity_id: int, after: dict[str, Any]) -> None:
        record_change(
            session,
            at=now,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            patient_id=patient.id,
            after={**after, "source": "patient import"},
        )

    record("patient.add", "patient", patient.id, {"mrn": patient.mrn, "site": patient.site})
    for treatment in patient.treatments:
        for course in treatment.courses:
            dates = [infusion.infused_on.isoformat() for infusion in course.infusions]
            record(
                "course.add", "course", course.id, {"protocol": treatment.protocol, "dates": dates}
            )
        if not treatment.courses:
            record("treatment.start", "treatment", treatment.id, _treatment_shown(treatment))


def _treatment_shown(treatment: models.Treatment) -> dict[str, str | None]:
    return {
        "protocol": treatment.protocol,
        "started_on": treatment.started_on.isoformat(),
        "stopped_on": treatment.stopped_on.isoformat() if treatment.stopped_on else None,
    }


def _update(session: Session, change: PatientChange, actor: str, now: datetime) -> None:
    """A patient on record: fill in the details it lacked, then add through the services."""
    if change.fills:
        patient = find_patient(session, change.mrn)
        before = {name: _shown(getattr(patient, name)) for name in change.fills}
        for name, value in change.fills.items():
            setattr(patient, name, value)
        record_change(
            session,
            at=now,
            actor=actor,
            action="patient.import",
            entity="patient",
            entity_id=patient.id,
            patient_id=patient.id,
            before=before,
            after={name: _shown(value) for name, value in change.fills.items()},
        )
    for new in change.courses:
        add_course(
            session,
            mrn=change.mrn,
            infused_on=new.course.dates,
            actor=actor,
            now=now,
            protocol=new.protocol,
        )
    for started in change.treatments:
        start_treatment(
            session,
            mrn=change.mrn,
            protocol=started.protocol,
            started_on=started.started_on,
            actor=actor,
            now=now,
        )
        if started.stopped_on is not None:
            _stop(session, change.mrn, started.protocol, started.stopped_on, actor, now)
    for stop in change.stops:
        _stop(session, change.mrn, stop.protocol, stop.stopped_on, actor, now)


def _stop(
    session: Session, mrn: str, protocol: str, stopped_on: date, actor: str, now: datetime
) -> None:
    stop_treatment(
        session,
        mrn=mrn,
        protocol=protocol,
        stopped_on=stopped_on,
        reason=None,
        actor=actor,
        now=now,
    )


def _shown(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value
