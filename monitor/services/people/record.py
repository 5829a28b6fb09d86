"""A patient's record as `monitor patient show` and the patient page read it, and the small
look-ups by MRN the commands and pages need.

The record holds only this patient's rows (flags, results, emails), read once; the screens
format it and never query for themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.domain.courses import Course, course_warnings
from monitor.domain.vocabulary import PatientStatus
from monitor.services.mail.history import Email, patient_emails
from monitor.services.results.flagged import ResultFlags, patient_flags
from monitor.services.results.history import ResultView, patient_results
from monitor.services.schedule.slots import domain_treatments
from monitor.services.schedule.view import derived_status, patient_monitoring_end
from monitor.store.models import Patient
from monitor.store.queries import find_patient

NAMES_PER_QUERY = 1000  # ids per IN list, well under every database's bound


@dataclass(frozen=True)
class TreatmentView:
    """One treatment as the record lists it (SPEC §10.3's `treatments`); `number` is its place
    in the patient's treatments (by first date, then protocol id)."""

    number: int
    protocol: str
    name: str
    kind: str
    started_on: date
    stopped_on: date | None
    courses: tuple[Course, ...]


@dataclass(frozen=True)
class PatientRecord:
    """Everything the record shows. `status` is the stored one; `derived_status` is what a
    screen says (`completed` from the day after the monitoring end, SPEC §9)."""

    id: int
    mrn: str
    name: str
    email: str | None
    email_opted_out: bool
    born_on: date | None
    sex: str | None
    site: str
    status: PatientStatus
    status_on: date | None
    status_reason: str | None
    derived_status: str
    treatments: tuple[TreatmentView, ...]
    courses: tuple[Course, ...]  # alemtuzumab's (SPEC §7's `courses`)
    warnings: tuple[str, ...]
    monitoring_end: date | None
    open_flags: tuple[ResultFlags, ...]
    closed_flags: tuple[ResultFlags, ...]
    results: tuple[ResultView, ...]
    emails: tuple[Email, ...]


def patient_record(session: Session, mrn: str, catalogue: Catalogue, today: date) -> PatientRecord:
    """The record of the patient with this MRN as of `today` (NotFound for an unknown MRN)."""
    patient = find_patient(session, mrn)
    treatments = treatment_views(patient, catalogue)
    courses = next((t.courses for t in treatments if t.protocol == DEFAULT_PROTOCOL_ID), ())
    end = patient_monitoring_end(patient, catalogue)
    opened, closed = patient_flags(session, patient.id)
    return PatientRecord(
        id=patient.id,
        mrn=patient.mrn,
        name=patient.name,
        email=patient.email,
        email_opted_out=patient.email_opted_out,
        born_on=patient.born_on,
        sex=patient.sex,
        site=patient.site,
        status=patient.status,
        status_on=patient.status_on,
        status_reason=patient.status_reason,
        derived_status=derived_status(patient, end, today),
        treatments=treatments,
        courses=courses,
        warnings=tuple(course_warnings(courses)),
        monitoring_end=end,
        open_flags=tuple(opened),
        closed_flags=tuple(closed),
        results=tuple(patient_results(session, patient.id)),
        emails=tuple(patient_emails(session, patient.id)),
    )


def treatment_views(patient: Patient, catalogue: Catalogue) -> tuple[TreatmentView, ...]:
    """The patient's treatments in number order, each with its protocol's name and kind."""
    views = []
    for number, treatment in enumerate(domain_treatments(patient), start=1):
        plan = catalogue.plan(treatment.protocol)
        views.append(
            TreatmentView(
                number,
                plan.id,
                plan.name,
                plan.kind.value,
                treatment.started_on,
                treatment.stopped_on,
                treatment.courses,
            )
        )
    return tuple(views)


@dataclass(frozen=True)
class PatientRef:
    """Who an MRN names, for a screen that lists something of theirs (audit, results)."""

    id: int
    mrn: str
    name: str


def patient_ref(session: Session, mrn: str) -> PatientRef:
    """The patient with this MRN (NotFound for an unknown one)."""
    patient = find_patient(session, mrn)
    return PatientRef(patient.id, patient.mrn, patient.name)


def patient_names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The names of these patients, by id."""
    names: dict[int, str] = {}
    for start in range(0, len(ids), NAMES_PER_QUERY):
        chunk = ids[start : start + NAMES_PER_QUERY]
        names.update(
            session.execute(select(Patient.id, Patient.name).where(Patient.id.in_(chunk))).all()
        )
    return names


def sites(session: Session) -> list[str]:
    """Every site a patient belongs to, in name order."""
    return list(session.scalars(select(Patient.site).distinct().order_by(Patient.site)))
