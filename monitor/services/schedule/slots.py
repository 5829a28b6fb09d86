"""Rebuild a patient's stored slots from the pure schedule.

The slots table is a cache: whenever treatments, courses, results, waivers or the patient's
status or sex change, the unit of work (`services.schedule.upkeep`) replaces the patient's rows
by what `domain.treatments` and `domain.status` compute, and stamps each treatment with the
fingerprint of its protocol (`services.schedule.fingerprints` reads them).
Waivers are kept in their own table, keyed by (protocol, panel, due date), so a rebuild keeps
them.

Open-ended series (an open, uncapped continuous treatment; an `indefinite` panel) are planned
`PLAN_AHEAD_MONTHS` ahead of the rebuild's day and the treatment records how far
(`planned_until_on`); the daily cycle rebuilds a patient whose plan has less than
`KEEP_AHEAD_MONTHS` left (`extend_open_series`), so a schedule never runs out while the lists
show up to 12 months ahead (SPEC §10.4).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.domain.courses import Course
from monitor.domain.repeats import RepeatRequest, repeat_slots
from monitor.domain.schedule import add_months
from monitor.domain.status import CountedResult, SlotProgress, is_cancelled_by_stop, match_results
from monitor.domain.treatments import Treatment, build_slots, has_open_series, order_treatments
from monitor.domain.vocabulary import COUNTING_STATUSES, FlagStatus
from monitor.store import models

PLAN_AHEAD_MONTHS = 24
KEEP_AHEAD_MONTHS = 13  # the lists show 12 months ahead; one month to spare

WaivedKey = tuple[str, str, date]  # (protocol, panel, due date)


def plan_slots(
    treatments: Sequence[Treatment],
    results: Iterable[CountedResult],
    catalogue: Catalogue,
    *,
    sex: str | None = None,
    stopped_on: date | None = None,
    horizon_on: date,
    repeats: Sequence[RepeatRequest] = (),
) -> list[SlotProgress]:
    """The pure schedule, with the repeats the patient's flags ask for, and the patient's
    results matched to it."""
    slots = build_slots(
        treatments, catalogue, sex=sex, stopped_on=stopped_on, horizon_on=horizon_on
    )
    if repeats:
        slots += repeat_slots(repeats, treatments, catalogue, sex=sex, planned=slots)
    return match_results(slots, results, catalogue)


SLOT_COLUMNS = (
    "patient_id",
    "protocol",
    "treatment",
    "panel",
    "due_on",
    "window_start",
    "window_end",
    "course",
    "kind",
    "next_window_start",
    "done_on",
    "completed_on",
    "is_waived",
    "is_cancelled",
)  # the values of `slot_tuples`, in this order


def slot_rows(
    patient_id: int,
    progress: Iterable[SlotProgress],
    waived: set[WaivedKey] | frozenset[WaivedKey],
    stopped_on: date | None,
) -> list[dict[str, Any]]:
    """Rows for the slots table (also used by the benchmark's bulk load)."""
    return [
        dict(zip(SLOT_COLUMNS, row, strict=True))
        for row in slot_tuples(patient_id, progress, waived, stopped_on)
    ]


def slot_tuples(
    patient_id: int,
    progress: Iterable[SlotProgress],
    waived: set[WaivedKey] | frozenset[WaivedKey],
    stopped_on: date | None,
) -> list[tuple[Any, ...]]:
    """`slot_rows` as tuples of `SLOT_COLUMNS` (what a bulk rebuild writes and a worker
    process sends back: a tuple pickles smaller and faster than a dict)."""
    rows = []
    for item in progress:
        slot = item.slot
        rows.append(
            (
                patient_id,
                slot.protocol,
                slot.treatment,
                slot.panel,
                slot.due_on,
                slot.window_start,
                slot.window_end,
                slot.course,
                str(slot.kind),
                item.next_window_start,
                item.done_on,
                item.completed_on,
                bool(waived) and (slot.protocol, slot.panel, slot.due_on) in waived,
                is_cancelled_by_stop(slot.due_on, stopped_on),
            )
        )
    return rows


@dataclass(frozen=True)
class PatientInputs:
    """Everything planning one patient's slots needs, read from the database (a bulk rebuild
    sends it to a worker process): their treatments (id, domain treatment) in number order,
    counted results, waived slots and the repeats their flags ask for."""

    patient_id: int
    sex: str | None
    stopped_on: date | None
    treatments: tuple[tuple[int, Treatment], ...]
    results: tuple[CountedResult, ...]
    waived: frozenset[WaivedKey]
    repeats: tuple[RepeatRequest, ...]


@dataclass(frozen=True)
class PlannedPatient:
    """One patient's slot rows (`SLOT_COLUMNS`) and each treatment's stamp: (treatment id,
    protocol, whether it has an open-ended series; see `stamp_treatments`)."""

    rows: list[tuple[Any, ...]]
    stamps: tuple[tuple[int, str, bool], ...]


def new_patient_inputs(patient: models.Patient) -> PatientInputs:
    """A patient added in this transaction, as planning needs them: no results, waivers or
    repeats yet (the onboarding's bulk store)."""
    treatments = tuple((row.id, domain_treatment(row)) for row in patient.treatments)
    return PatientInputs(
        patient.id, patient.sex, patient.stopped_on, treatments, (), frozenset(), ()
    )


def plan_patients(
    patients: Sequence[PatientInputs], catalogue: Catalogue, horizon_on: date
) -> list[PlannedPatient]:
    """`patient_slot_rows` and `stamp_treatments` for patients read in bulk: pure, so a process
    pool can run it."""
    planned = []
    for inputs in patients:
        treatments = order_treatments([treatment for _, treatment in inputs.treatments])
        progress = plan_slots(
            treatments,
            inputs.results,
            catalogue,
            sex=inputs.sex,
            stopped_on=inputs.stopped_on,
            horizon_on=horizon_on,
            repeats=inputs.repeats,
        )
        stamps = tuple(
            (
                treatment_id,
                treatment.protocol,
                has_open_series(treatment, catalogue.plan(treatment.protocol), inputs.sex),
            )
            for treatment_id, treatment in inputs.treatments
        )
        rows = slot_tuples(inputs.patient_id, progress, inputs.waived, inputs.stopped_on)
        planned.append(PlannedPatient(rows, stamps))
    return planned


def domain_courses(treatment: models.Treatment) -> tuple[Course, ...]:
    """The treatment's courses in date order. Sorted here, not by the relationship's order_by: a
    course appended in this session (added before existing ones) sits at the end of the list."""
    courses = [Course(tuple(i.infused_on for i in c.infusions)) for c in treatment.courses]
    return tuple(sorted(courses, key=lambda course: course.first_on))


def alemtuzumab_courses(patient: models.Patient) -> tuple[Course, ...]:
    """The patient's alemtuzumab courses in date order (the rules' context: SPEC §4's rules
    that look at infusions are about alemtuzumab's)."""
    for treatment in patient.treatments:
        if treatment.protocol == DEFAULT_PROTOCOL_ID:
            return domain_courses(treatment)
    return ()


def domain_treatment(treatment: models.Treatment) -> Treatment:
    courses = domain_courses(treatment)
    started_on = courses[0].first_on if courses else treatment.started_on
    return Treatment(treatment.protocol, started_on, treatment.stopped_on, courses)


def domain_treatments(patient: models.Patient) -> list[Treatment]:
    """The patient's treatments in number order."""
    return order_treatments([domain_treatment(t) for t in patient.treatments])


def counted_results(session: Session, patient_id: int) -> list[CountedResult]:
    """The patient's results that can complete slots."""
    rows = session.execute(
        select(models.Result.analyte, models.Result.collected_on).where(
            models.Result.patient_id == patient_id,
            models.Result.status.in_(COUNTING_STATUSES),
        )
    )
    return [CountedResult(analyte, collected_on) for analyte, collected_on in rows]


def repeat_requests(session: Session, patient_id: int) -> list[RepeatRequest]:
    """The repeats the patient's flags ask for: every flag with a `repeat_due_on` that is not
    superseded (acknowledging a flag is not doing the repeat; a nurse who decides it is not
    needed waives the slot), on a result that still counts."""
    rows = session.execute(
        select(models.Result.analyte, models.Result.collected_on, models.Flag.repeat_due_on)
        .join(models.Result, models.Result.id == models.Flag.result_id)
        .where(
            models.Flag.patient_id == patient_id,
            models.Flag.repeat_due_on.is_not(None),
            models.Flag.status != FlagStatus.SUPERSEDED,
            models.Result.status.in_(COUNTING_STATUSES),
        )
    )
    return [
        RepeatRequest(analyte, asked_on, due_on)
        for analyte, asked_on, due_on in rows
        if due_on is not None  # the query's condition; for the type checker
    ]


def waived_keys(session: Session, patient_id: int) -> set[WaivedKey]:
    waiver = models.Waiver
    rows = session.execute(
        select(waiver.protocol, waiver.panel, waiver.due_on).where(waiver.patient_id == patient_id)
    )
    return {(protocol, panel, due_on) for protocol, panel, due_on in rows}


def replace_slots(
    session: Session, patient: models.Patient, catalogue: Catalogue, today: date
) -> None:
    """Replace the patient's stored slots with a fresh computation from `catalogue`, planning
    open-ended series `PLAN_AHEAD_MONTHS` after `today`. The caller has locked the patient's row
    (`lock_patient`): the unit of work, never a use case."""
    horizon_on = add_months(today, PLAN_AHEAD_MONTHS)
    results = counted_results(session, patient.id)
    rows = patient_slot_rows(
        patient,
        catalogue,
        horizon_on,
        results,
        waived_keys(session, patient.id),
        repeat_requests(session, patient.id),
    )
    session.execute(delete(models.Slot).where(models.Slot.patient_id == patient.id))
    if rows:
        session.execute(insert(models.Base.metadata.tables["slots"]), rows)
    stamp_treatments(patient, catalogue, horizon_on)


def patient_slot_rows(
    patient: models.Patient,
    catalogue: Catalogue,
    horizon_on: date,
    results: Iterable[CountedResult],
    waived: set[WaivedKey],
    repeats: Sequence[RepeatRequest],
) -> list[dict[str, Any]]:
    """The slots table's rows for the patient: their treatments planned up to `horizon_on`
    with `results` matched and the `repeats` their flags ask for (a rebuild, and the
    onboarding's bulk store of new patients, who have neither)."""
    progress = plan_slots(
        domain_treatments(patient),
        results,
        catalogue,
        sex=patient.sex,
        stopped_on=patient.stopped_on,
        horizon_on=horizon_on,
        repeats=repeats,
    )
    return slot_rows(patient.id, progress, waived, patient.stopped_on)


def stamp_treatments(patient: models.Patient, catalogue: Catalogue, horizon_on: date) -> None:
    """Record on each treatment the protocol fingerprint its slots came from, and how far an
    open-ended series is planned."""
    for row in patient.treatments:
        plan = catalogue.plan(row.protocol)
        row.schedule_fingerprint = catalogue.fingerprint(row.protocol)
        is_open = has_open_series(domain_treatment(row), plan, patient.sex)
        row.planned_until_on = horizon_on if is_open else None


def running_out(session: Session, today: date) -> list[int]:
    """Patients with an open-ended series planned less than `KEEP_AHEAD_MONTHS` past `today`:
    the daily cycle has them rebuilt, which plans `PLAN_AHEAD_MONTHS` ahead again."""
    until = add_months(today, KEEP_AHEAD_MONTHS)
    treatment = models.Treatment
    query = (
        select(treatment.patient_id)
        .where(treatment.planned_until_on.is_not(None), treatment.planned_until_on < until)
        .distinct()
    )
    return list(session.scalars(query))


def lock_patients(session: Session, patient_ids: Sequence[int], batch: int = 500) -> set[int]:
    """`lock_patient` for several patients, in id order; the ids that exist."""
    ordered = sorted(patient_ids)
    found: set[int] = set()
    for start in range(0, len(ordered), batch):
        query = (
            select(models.Patient.id)
            .where(models.Patient.id.in_(ordered[start : start + batch]))
            .order_by(models.Patient.id)
            .with_for_update(key_share=True)
        )
        found.update(session.scalars(query))
    return found


def lock_patient(session: Session, patient_id: int) -> None:
    """FOR NO KEY UPDATE on the patient's row (foreign-key checks of other rows still pass)."""
    session.execute(
        select(models.Patient.id)
        .where(models.Patient.id == patient_id)
        .with_for_update(key_share=True)
    )
