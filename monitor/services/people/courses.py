"""Recording an infusion course (the unit of work rebuilds the schedule it changes)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy.orm import Session

from monitor.domain.courses import course_warnings, make_course, order_courses
from monitor.services.audit import record_change
from monitor.services.schedule.slots import domain_courses
from monitor.store.models import Course, Infusion
from monitor.store.queries import find_patient


def add_course(
    session: Session,
    *,
    mrn: str,
    infused_on: Iterable[date],
    actor: str,
    now: datetime,
) -> list[str]:
    """Add a course (planned dates allowed) and return the new warnings of SPEC §3.1 (those
    about earlier courses were shown when they were added).

    Refuses (InvalidInput) a course that repeats a date, spans over 14 days or overlaps another;
    nothing is written then.
    """
    patient = find_patient(session, mrn)
    course = make_course(infused_on)
    existing = domain_courses(patient)
    ordered = order_courses([*existing, course])
    row = Course(first_on=course.first_on, last_on=course.last_on, created_at=now)
    row.infusions = [Infusion(infused_on=d) for d in course.dates]
    patient.courses.append(row)
    session.flush()
    record_change(
        session,
        at=now,
        actor=actor,
        action="course.add",
        entity="course",
        entity_id=row.id,
        patient_id=patient.id,
        after={"dates": [d.isoformat() for d in course.dates]},
    )
    already_shown = set(course_warnings(existing))
    return [line for line in course_warnings(ordered) if line not in already_shown]
