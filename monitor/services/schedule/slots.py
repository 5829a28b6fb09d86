"""Rebuild a patient's stored slots from the pure schedule.

The slots table is a cache: whenever courses, results, waivers or the patient's status change,
the unit of work (`services.schedule.upkeep`) replaces the patient's rows by what
`domain.schedule` and `domain.status` compute, and stamps the patient with the fingerprint of
the protocol used (`services.schedule.fingerprints` reads it).
Waivers are kept in their own table, keyed by (panel, due date), so a rebuild keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from monitor.domain.courses import Course
from monitor.domain.protocol import Protocol, protocol_fingerprint
from monitor.domain.schedule import build_schedule
from monitor.domain.status import CountedResult, SlotProgress, is_cancelled_by_stop, match_results
from monitor.domain.vocabulary import COUNTING_STATUSES
from monitor.store import models


def plan_slots(
    courses: Sequence[Course], results: Iterable[CountedResult], protocol: Protocol
) -> list[SlotProgress]:
    """The pure schedule with the patient's results matched to it."""
    return match_results(build_schedule(courses, protocol), results, protocol)


def slot_rows(
    patient_id: int,
    progress: Iterable[SlotProgress],
    waived: set[tuple[str, date]],
    stopped_on: date | None,
) -> list[dict[str, Any]]:
    """Rows for the slots table (also used by the benchmark's bulk load)."""
    rows = []
    for item in progress:
        slot = item.slot
        rows.append(
            {
                "patient_id": patient_id,
                "panel": slot.panel,
                "due_on": slot.due_on,
                "window_start": slot.window_start,
                "window_end": slot.window_end,
                "course": slot.course,
                "kind": str(slot.kind),
                "next_window_start": item.next_window_start,
                "done_on": item.done_on,
                "completed_on": item.completed_on,
                "is_waived": bool(waived) and (slot.panel, slot.due_on) in waived,
                "is_cancelled": is_cancelled_by_stop(slot.due_on, stopped_on),
            }
        )
    return rows


def domain_courses(patient: models.Patient) -> list[Course]:
    """The patient's courses in date order. Sorted here, not by the relationship's order_by: a
    course appended in this session (added before existing ones) sits at the end of the list."""
    courses = [Course(tuple(i.infused_on for i in course.infusions)) for course in patient.courses]
    return sorted(courses, key=lambda course: course.first_on)


def counted_results(session: Session, patient_id: int) -> list[CountedResult]:
    """The patient's results that can complete slots."""
    rows = session.execute(
        select(models.Result.analyte, models.Result.collected_on).where(
            models.Result.patient_id == patient_id,
            models.Result.status.in_(COUNTING_STATUSES),
        )
    )
    return [CountedResult(analyte, collected_on) for analyte, collected_on in rows]


def waived_keys(session: Session, patient_id: int) -> set[tuple[str, date]]:
    rows = session.execute(
        select(models.Waiver.panel, models.Waiver.due_on).where(
            models.Waiver.patient_id == patient_id
        )
    )
    return {(panel, due_on) for panel, due_on in rows}


def rebuild_slots(session: Session, patient: models.Patient, protocol: Protocol) -> None:
    """Replace the patient's stored slots with a fresh computation from `protocol`.

    Called by the unit of work (`services.schedule.upkeep`), never by a use case. The patient's
    row is locked first (PostgreSQL; SQLite transactions already write one at a time), so two
    transactions rebuilding one patient (an import during `monitor db rebuild`) take turns, and
    the later one reads what the earlier one committed.
    """
    session.flush()
    lock_patient(session, patient.id)
    replace_slots(session, patient, protocol)


def replace_slots(session: Session, patient: models.Patient, protocol: Protocol) -> None:
    """`rebuild_slots` for a patient whose row the caller has locked already."""
    progress = plan_slots(domain_courses(patient), counted_results(session, patient.id), protocol)
    rows = slot_rows(patient.id, progress, waived_keys(session, patient.id), patient.stopped_on)
    session.execute(delete(models.Slot).where(models.Slot.patient_id == patient.id))
    if rows:
        session.execute(insert(models.Base.metadata.tables["slots"]), rows)
    patient.schedule_fingerprint = protocol_fingerprint(protocol)


def lock_patient(session: Session, patient_id: int) -> None:
    """FOR NO KEY UPDATE on the patient's row (foreign-key checks of other rows still pass)."""
    session.execute(
        select(models.Patient.id)
        .where(models.Patient.id == patient_id)
        .with_for_update(key_share=True)
    )
