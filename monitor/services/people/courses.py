"""Recording an infusion course under a `courses` protocol (the unit of work rebuilds the
schedule it changes)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy.orm import Session

from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.domain.courses import course_warnings, make_course, order_courses
from monitor.domain.phases import Kind, ProtocolPlan
from monitor.errors import InvalidInput
from monitor.services.audit import record_change
from monitor.services.people.treatments import catalogue_of
from monitor.services.schedule.slots import domain_courses
from monitor.store.models import Course, Infusion, Patient, Treatment
from monitor.store.queries import find_patient


def add_course(
    session: Session,
    *,
    mrn: str,
    infused_on: Iterable[date],
    actor: str,
    now: datetime,
    protocol: str = DEFAULT_PROTOCOL_ID,
) -> list[str]:
    """Add a course (planned dates allowed) under `protocol` and return the new warnings of
    SPEC §3.1 (those about earlier courses were shown when they were added; alemtuzumab's
    only, SPEC §10.4).

    Refuses (InvalidInput) an unknown or continuous protocol, and a course that repeats a
    date, spans over 14 days or overlaps another of the same treatment; nothing is written then.
    Courses of different protocols may overlap.
    """
    courses_plan(catalogue_of(session), protocol)
    patient = find_patient(session, mrn)
    course = make_course(infused_on)
    treatment = _courses_treatment(patient, protocol, course.first_on, now)
    existing = list(domain_courses(treatment))
    ordered = order_courses([*existing, course])
    row = Course(first_on=course.first_on, last_on=course.last_on, created_at=now)
    row.infusions = [Infusion(infused_on=d) for d in course.dates]
    row.patient = patient
    treatment.courses.append(row)
    treatment.started_on = ordered[0].first_on
    session.flush()
    record_change(
        session,
        at=now,
        actor=actor,
        action="course.add",
        entity="course",
        entity_id=row.id,
        patient_id=patient.id,
        after={"protocol": protocol, "dates": [d.isoformat() for d in course.dates]},
    )
    if protocol != DEFAULT_PROTOCOL_ID:
        return []
    already_shown = set(course_warnings(existing))
    return [line for line in course_warnings(ordered) if line not in already_shown]


def courses_plan(catalogue: Catalogue, protocol: str) -> ProtocolPlan:
    """The `courses` protocol `protocol`; InvalidInput for a continuous one (UnknownProtocol for
    an id not configured)."""
    plan = catalogue.plan(protocol)
    if plan.kind is not Kind.COURSES:
        raise InvalidInput(
            f"protocol {protocol!r} is continuous: start it with `treatment start`, "
            "not with a course"
        )
    return plan


def _courses_treatment(patient: Patient, protocol: str, first_on: date, now: datetime) -> Treatment:
    """The patient's treatment under this courses protocol (one per patient), new if none."""
    for treatment in patient.treatments:
        if treatment.protocol == protocol:
            return treatment
    treatment = Treatment(protocol=protocol, started_on=first_on, created_at=now)
    patient.treatments.append(treatment)
    return treatment
