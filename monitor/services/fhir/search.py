"""Reading and searching the API's resources: one function for each, one transaction per call.

Each kind lists its candidates in a stable order whatever the chunk size (by patient, then id;
slots by patient, protocol, panel and due date) with their FHIR status and last-updated
instant; the query keeps those it admits and the page is built from the kept ones only.
Last updated, per kind (docs/decisions.md):

- Observation: when the result was received, or its last audited change (entered in error).
- Flag: when it was raised (only open flags are served; acknowledging one ends it).
- Patient, ServiceRequest, CarePlan: the patient's record's last change: the newest of the
  patient's creation, its audit entries (every change a person makes) and its results'
  arrivals, everything a schedule is rebuilt from; a missed slot also changed at the start
  (in the clinic's zone) of the day the next window opened, which made it missed. It may say
  "changed" when nothing in the resource did, never the reverse: a client polling with
  `_lastUpdated=gt<last poll>` misses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.status import SlotStatus, slot_status
from monitor.domain.treatments import order_treatments
from monitor.domain.vocabulary import FlagStatus
from monitor.services.fhir import resources as fr
from monitor.services.fhir.query import Query
from monitor.services.fhir.terminology import loinc_codes
from monitor.services.schedule.slots import domain_treatment
from monitor.store.models import AuditEntry, Flag, Patient, Result, Slot, Treatment

Resource = fr.Resource
R = TypeVar("R")
Scope = tuple[int, int] | None  # patients by id, first to last (both included); None: all
PATIENTS_PER_CHUNK = 25
_OWNERS: dict[str, Any] = {
    "Patient": Patient.id,
    "CarePlan": Treatment.patient_id,
    "Observation": Result.patient_id,
    "Flag": Flag.patient_id,
}
_KEYS: dict[str, Any] = {
    "Patient": Patient.id,
    "CarePlan": Treatment.id,
    "Observation": Result.id,
    "Flag": Flag.id,
}


@dataclass(frozen=True)
class FhirContext:
    """What every answer needs: the configured terms, the clinic's day and zone."""

    terms: fr.Terms
    today: date
    zone: str

    @classmethod
    def of(cls, config: Config, today: date) -> FhirContext:
        catalogue = config.analyte_catalogue
        terms = fr.Terms(
            catalogue=config.catalogue,
            code_map=config.code_map,
            first_loinc=loinc_codes(config.code_map),
            canonical_units={name: a.unit for name, a in catalogue.analytes.items()},
        )
        return cls(terms, today, config.clinic.timezone)


@dataclass(frozen=True)
class Candidate:
    rid: str
    status: str | None
    last_updated: datetime
    patient_id: int | None
    build: Callable[[], Resource]


@dataclass(frozen=True)
class Page:
    resources: list[Resource]
    total: int | None  # None: not counted (the search stopped after the page)
    patient_ids: frozenset[int]  # whose records this page showed (for the audit entry)
    more: bool = False  # another page follows


def search(session: Session, query: Query, context: FhirContext) -> Page:
    """The page of resources the query admits. Patients are read a chunk at a time, in id
    order, until the page and one more match are found: the first pages of a large clinic
    cost a chunk, not the clinic; `total` is known (and given) only when every chunk was read."""
    wanted = query.offset + query.count
    kept: list[Candidate] = []
    scopes = _scopes(session, query)
    for number, scope in enumerate(scopes, start=1):
        kept += [
            c
            for c in _candidates(session, query, context, scope)
            if query.admits(c.status, c.last_updated) and (query.ids is None or c.rid in query.ids)
        ]
        if len(kept) > wanted and number < len(scopes):
            break
    else:
        number = len(scopes)
    page = kept[query.offset : wanted]
    patients = frozenset(c.patient_id for c in page if c.patient_id is not None)
    total = len(kept) if number == len(scopes) else None
    return Page([c.build() for c in page], total, patients, len(kept) > wanted)


def _scopes(session: Session, query: Query) -> list[Scope]:
    """The id ranges of patients to read, `PATIENTS_PER_CHUNK` at a time."""
    if query.patient is not None:
        return [(query.patient, query.patient)]
    ids = list(session.scalars(select(Patient.id).order_by(Patient.id)))
    chunks = [ids[i : i + PATIENTS_PER_CHUNK] for i in range(0, len(ids), PATIENTS_PER_CHUNK)]
    return [(chunk[0], chunk[-1]) for chunk in chunks]


def read(session: Session, kind: str, rid: str, context: FhirContext) -> Resource | None:
    """One resource by id, or None (as for an id of the wrong shape)."""
    patient = _patient_of_id(session, kind, rid)
    if patient is None:
        return None
    query = Query(kind=kind, ids=frozenset({rid}), patient=patient)
    found = search(session, query, context)
    return found.resources[0] if found.resources else None


def _patient_of_id(session: Session, kind: str, rid: str) -> int | None:
    """Whose resource the id names (a ServiceRequest's says it: `<patient>-<hash>`), so a read
    looks at one patient's rows; None when there is no such row or the id is not our shape."""
    if kind == "ServiceRequest":
        head, _, tail = rid.partition("-")
        return int(head) if head.isdigit() and len(head) < 19 and len(tail) == 16 else None
    if not rid.isdigit() or len(rid) >= 19:
        return None
    owner: int | None = session.scalar(select(_OWNERS[kind]).where(_KEYS[kind] == int(rid)))
    return owner


def _candidates(
    session: Session, query: Query, context: FhirContext, scope: Scope
) -> list[Candidate]:
    match query.kind:
        case "Patient":
            return _patients(session, query, scope)
        case "ServiceRequest":
            return [c for c, _ in _requests(session, scope, context)]
        case "CarePlan":
            return _care_plans(session, scope, context)
        case "Observation":
            return _observations(session, scope, context)
        case "Flag":
            return _flags(session, scope)
    raise ValueError(f"not a served resource type: {query.kind}")


def record_changes(session: Session, scope: Scope) -> dict[int, datetime]:
    """patient id -> the last change to the patient's record (see the module's docstring)."""
    changed: dict[int, datetime] = {}
    created = select(Patient.id, Patient.created_at)
    audited = select(AuditEntry.patient_id, func.max(AuditEntry.at)).where(
        AuditEntry.patient_id.is_not(None)
    )
    arrived = select(Result.patient_id, func.max(Result.received_at))
    if scope is not None:
        created = created.where(Patient.id.between(*scope))
        audited = audited.where(AuditEntry.patient_id.between(*scope))
        arrived = arrived.where(Result.patient_id.between(*scope))
    rows: list[Iterable[tuple[int | None, datetime | None]]] = [
        session.execute(created),
        session.execute(audited.group_by(AuditEntry.patient_id)),
        session.execute(arrived.group_by(Result.patient_id)),
    ]
    for found in rows:
        for pid, at in found:
            if pid is not None and at is not None and (pid not in changed or at > changed[pid]):
                changed[pid] = at
    return changed


def _patients(session: Session, query: Query, scope: Scope) -> list[Candidate]:
    statement = select(Patient).order_by(Patient.id)
    if scope is not None:
        statement = statement.where(Patient.id.between(*scope))
    if query.identifier is not None:
        statement = statement.where(Patient.mrn == query.identifier)
    if query.ids is not None:
        statement = statement.where(Patient.id.in_(_numbers(query.ids)))
    rows = list(session.scalars(statement))
    changed = record_changes(session, (rows[0].id, rows[0].id) if len(rows) == 1 else scope)
    return [
        Candidate(
            str(row.id),
            None,
            changed[row.id],
            row.id,
            _bind(fr.patient_resource, row, changed[row.id]),
        )
        for row in rows
    ]


def _numbers(ids: Iterable[str]) -> list[int]:
    return [int(i) for i in ids if i.isdigit() and len(i) < 19]


def _start_of(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)


def _requests(session: Session, scope: Scope, context: FhirContext) -> list[tuple[Candidate, Slot]]:
    """Every slot as a ServiceRequest candidate, with its row (the CarePlans read them)."""
    statement = select(Slot).order_by(Slot.patient_id, Slot.protocol, Slot.panel, Slot.due_on)
    if scope is not None:
        statement = statement.where(Slot.patient_id.between(*scope))
    slots = list(session.scalars(statement))
    changed = record_changes(session, scope)
    plans = care_plan_ids(session, scope)
    found = []
    for row in slots:
        status = _slot_status(row, context.today)
        last = changed[row.patient_id]
        if status is SlotStatus.MISSED and row.next_window_start is not None:
            last = max(last, _start_of(row.next_window_start, context.zone))
        plan = plans.get((row.patient_id, row.protocol, row.treatment))
        rid = fr.slot_id(row.patient_id, row.protocol, row.panel, row.due_on)
        build = _bind_request(row, status, plan, last, context.terms)
        found.append((Candidate(rid, fr.request_status(status), last, row.patient_id, build), row))
    return found


def _bind_request(
    row: Slot, status: SlotStatus, plan: int | None, last: datetime, terms: fr.Terms
) -> Callable[[], Resource]:
    return lambda: fr.service_request(row, status, plan, last, terms)


def _slot_status(row: Slot, on: date) -> SlotStatus:
    return slot_status(
        on=on,
        window_start=row.window_start,
        window_end=row.window_end,
        next_window_start=row.next_window_start,
        done_on=row.done_on,
        completed_on=row.completed_on,
        is_waived=row.is_waived,
        is_cancelled=row.is_cancelled,
    )


def care_plan_ids(session: Session, scope: Scope) -> dict[tuple[int, str, int], int]:
    """(patient id, protocol, treatment number) -> the treatment's row id: a slot's
    `treatment` is its treatment's number in `domain.treatments.order_treatments`."""
    statement = select(Treatment).order_by(Treatment.patient_id, Treatment.id)
    if scope is not None:
        statement = statement.where(Treatment.patient_id.between(*scope))
    by_patient: dict[int, list[Treatment]] = {}
    for row in session.scalars(statement):
        by_patient.setdefault(row.patient_id, []).append(row)
    found: dict[tuple[int, str, int], int] = {}
    for pid, rows in by_patient.items():
        pairs = [(domain_treatment(row), row) for row in rows]
        rows_of = {id(d): row for d, row in pairs}
        ordered = order_treatments([d for d, _ in pairs])
        for number, treatment in enumerate(ordered, start=1):
            found[(pid, treatment.protocol, number)] = rows_of[id(treatment)].id
    return found


def _care_plans(session: Session, scope: Scope, context: FhirContext) -> list[Candidate]:
    statement = select(Treatment).order_by(Treatment.patient_id, Treatment.id)
    if scope is not None:
        statement = statement.where(Treatment.patient_id.between(*scope))
    treatments = list(session.scalars(statement))
    plans = care_plan_ids(session, scope)
    changed = record_changes(session, scope)
    requests: dict[int, list[Candidate]] = {}
    for candidate, slot in _requests(session, scope, context):
        plan = plans.get((slot.patient_id, slot.protocol, slot.treatment))
        if plan is not None:
            requests.setdefault(plan, []).append(candidate)
    found = []
    for row in treatments:
        own = requests.get(row.id, [])
        active = any(c.status == "active" for c in own)
        last = max([changed[row.patient_id], row.created_at, *(c.last_updated for c in own)])
        ids = [c.rid for c in own]
        build = _bind_plan(row, ids, active, last, context.terms)
        status = "active" if active else "completed"
        found.append(Candidate(str(row.id), status, last, row.patient_id, build))
    return found


def _bind_plan(
    row: Treatment, ids: Sequence[str], active: bool, last: datetime, terms: fr.Terms
) -> Callable[[], Resource]:
    return lambda: fr.care_plan(row, row.patient_id, ids, active, last, terms)


def _observations(session: Session, scope: Scope, context: FhirContext) -> list[Candidate]:
    served = list(fr.OBSERVATION_STATUS)
    statement = (
        select(Result).where(Result.status.in_(served)).order_by(Result.patient_id, Result.id)
    )
    audited = select(AuditEntry.entity_id, func.max(AuditEntry.at)).where(
        AuditEntry.entity == "result", AuditEntry.entity_id.is_not(None)
    )
    if scope is not None:
        statement = statement.where(Result.patient_id.between(*scope))
        audited = audited.where(AuditEntry.patient_id.between(*scope))
    grouped = session.execute(audited.group_by(AuditEntry.entity_id))
    changes = {result_id: at for result_id, at in grouped}
    found = []
    for row in session.scalars(statement):
        last = max(row.received_at, changes.get(row.id) or row.received_at)
        build = _bind(lambda r, at: fr.observation(r, at, context.terms), row, last)
        status = fr.OBSERVATION_STATUS[row.status]
        found.append(Candidate(str(row.id), status, last, row.patient_id, build))
    return found


def _flags(session: Session, scope: Scope) -> list[Candidate]:
    statement = (
        select(Flag).where(Flag.status == FlagStatus.OPEN).order_by(Flag.patient_id, Flag.id)
    )
    if scope is not None:
        statement = statement.where(Flag.patient_id.between(*scope))
    return [
        Candidate(
            str(row.id),
            "active",
            row.created_at,
            row.patient_id,
            _bind(fr.flag_resource, row, row.created_at),
        )
        for row in session.scalars(statement)
    ]


def _bind(build: Callable[[R, datetime], Resource], row: R, at: datetime) -> Callable[[], Resource]:
    return lambda: build(row, at)
