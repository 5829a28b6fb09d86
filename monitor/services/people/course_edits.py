"""Correcting a course's dates and deleting a course recorded by mistake (issue 14 item 2).

Courses are named as `patient show` numbers them: by date order within the patient's treatment
under one courses protocol (alemtuzumab unless another is named). A correction is checked by
the same rules as a new course (`domain.courses.make_course`, `order_courses`); both need a
reason, since they move every slot of the treatment. Deleting the last course of a treatment
deletes the emptied treatment too: a courses treatment always has a course
(`domain.treatments.treatment_end` reads its last one). The unit of work rebuilds the slots at
commit (`services.schedule.upkeep` watches courses, infusions and treatments); waivers and
reminder notices are kept by (protocol, panel, due date), not by slot, so those of a slot that
no longer exists simply match nothing. Flags belong to results and are not touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy.orm import Session

from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID
from monitor.domain.courses import course_warnings, make_course, order_courses
from monitor.domain.fields import required_note
from monitor.errors import Field, InvalidInput
from monitor.services.audit import record_change
from monitor.services.schedule.slots import domain_courses
from monitor.store.models import Course, Infusion, Patient, Treatment
from monitor.store.queries import find_patient


def correct_course(
    session: Session,
    *,
    mrn: str,
    number: int,
    infused_on: Iterable[date],
    reason: str,
    actor: str,
    now: datetime,
    protocol: str = DEFAULT_PROTOCOL_ID,
) -> list[str]:
    """Replace course `number`'s infusion dates; the warnings of SPEC §3.1 that are new.

    InvalidInput (nothing changed) for an unknown course number, no reason, or dates that
    repeat, span over 14 days or overlap another course of the treatment."""
    reason = required_note(reason, Field.REASON)
    patient = find_patient(session, mrn)
    treatment, row = _numbered_course(patient, protocol, number)
    course = make_course(infused_on)
    existing = list(domain_courses(treatment))
    others = [c for c in existing if c.first_on != row.first_on]
    ordered = order_courses([*others, course])
    before = [i.infused_on.isoformat() for i in row.infusions]
    _set_dates(row, course.dates)
    row.first_on, row.last_on = course.first_on, course.last_on
    treatment.started_on = ordered[0].first_on
    record_change(
        session,
        at=now,
        actor=actor,
        action="course.correct",
        entity="course",
        entity_id=row.id,
        patient_id=patient.id,
        before={"protocol": protocol, "number": number, "dates": before},
        after={
            "protocol": protocol,
            "number": ordered.index(course) + 1,
            "dates": [d.isoformat() for d in course.dates],
            "reason": reason,
        },
    )
    if protocol != DEFAULT_PROTOCOL_ID:
        return []
    already = set(course_warnings(existing))
    return [line for line in course_warnings(ordered) if line not in already]


def delete_course(
    session: Session,
    *,
    mrn: str,
    number: int,
    reason: str,
    actor: str,
    now: datetime,
    protocol: str = DEFAULT_PROTOCOL_ID,
) -> bool:
    """Delete course `number` (recorded by mistake); True when its emptied treatment went too."""
    reason = required_note(reason, Field.REASON)
    patient = find_patient(session, mrn)
    treatment, row = _numbered_course(patient, protocol, number)
    dates = [i.infused_on.isoformat() for i in row.infusions]
    treatment.courses.remove(row)
    patient.courses.remove(row)
    session.delete(row)
    remaining = sorted(treatment.courses, key=lambda c: c.first_on)
    emptied = not remaining
    if emptied:
        patient.treatments.remove(treatment)
        session.delete(treatment)
    else:
        treatment.started_on = remaining[0].first_on
    record_change(
        session,
        at=now,
        actor=actor,
        action="course.delete",
        entity="course",
        entity_id=row.id,
        patient_id=patient.id,
        before={"protocol": protocol, "number": number, "dates": dates},
        after={"deleted": True, "treatment_deleted": emptied, "reason": reason},
    )
    return emptied


def _numbered_course(patient: Patient, protocol: str, number: int) -> tuple[Treatment, Course]:
    """The treatment under `protocol` and its course `number` (from 1, by date)."""
    treatment = next((t for t in patient.treatments if t.protocol == protocol), None)
    rows = sorted(treatment.courses, key=lambda c: c.first_on) if treatment else []
    if treatment is None or not rows:
        raise InvalidInput(f"{patient.mrn} has no course under {protocol}")
    if not 1 <= number <= len(rows):
        raise InvalidInput(
            f"course {number} does not exist: {patient.mrn} has {len(rows)} course(s) "
            f"under {protocol}, numbered 1 to {len(rows)} as `patient show` lists them"
        )
    return treatment, rows[number - 1]


def _set_dates(row: Course, dates: Iterable[date]) -> None:
    """Keep the infusions whose date stays, drop the others, add the new ones (never a row
    deleted and inserted again with the same date: the (course, date) pair is unique)."""
    wanted = set(dates)
    for infusion in [i for i in row.infusions if i.infused_on not in wanted]:
        row.infusions.remove(infusion)
    kept = {i.infused_on for i in row.infusions}
    row.infusions.extend(Infusion(infused_on=d) for d in sorted(wanted - kept))
