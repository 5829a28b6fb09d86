"""Patients: add one, correct their name or date of birth, change their status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.addresses import checked_address
from monitor.domain.fields import (
    MRN_LENGTH,
    NAME_LENGTH,
    SITE_LENGTH,
    checked_line,
    checked_note,
)
from monitor.domain.vocabulary import Channel, PatientStatus
from monitor.errors import Field, FieldError, InvalidInput
from monitor.services.audit import record_change
from monitor.store.models import Patient, Pregnancy
from monitor.store.queries import find_patient

SEXES = ("F", "M", "X")
PHONE_LENGTH = 40  # the column's width
PHONE_CHARACTERS = frozenset("0123456789 +()-.")
ADDRESS_LINES = 8
ADDRESS_LINE_LENGTH = 100


@dataclass(frozen=True)
class PatientDetails:
    """A new patient's details as they will be stored (stripped, checked)."""

    mrn: str
    name: str
    email: str | None
    born_on: date | None
    sex: str | None
    site: str
    phone: str | None = None
    address: str | None = None
    channel: Channel = Channel.EMAIL


def checked_details(
    *,
    mrn: str,
    name: str,
    email: str | None,
    born_on: date | None,
    sex: str | None,
    site: str,
    phone: str | None,
    address: str | None,
    channel: str | None,
    today: date,
) -> PatientDetails:
    """The details `add_patient` stores, or a FieldError naming the first field at fault (the
    caseload import checks every row of a file with it before writing any)."""
    mrn = checked_line(mrn, Field.MRN, MRN_LENGTH)
    name = checked_line(name, Field.NAME, NAME_LENGTH)
    site = checked_line(site, Field.SITE, SITE_LENGTH)
    email = checked_address(email, Field.EMAIL) if email is not None else None
    _check_patient_fields(born_on, sex, today)
    return PatientDetails(
        mrn=mrn,
        name=name,
        email=email,
        born_on=born_on,
        sex=sex,
        site=site,
        phone=checked_phone(phone) if phone is not None else None,
        address=checked_postal_address(address) if address is not None else None,
        channel=checked_channel(channel) if channel is not None else Channel.EMAIL,
    )


def checked_phone(value: str) -> str:
    """A phone number as the clinic keeps it: digits, spaces, + ( ) - and dots, with a digit."""
    phone = checked_line(value, Field.PHONE, PHONE_LENGTH)
    if not set(phone) <= PHONE_CHARACTERS or not any(c.isdigit() for c in phone):
        raise FieldError(Field.PHONE, " must be digits, spaces and + ( ) - . only")
    return phone


def checked_postal_address(value: str) -> str:
    """A postal address: up to `ADDRESS_LINES` non-empty lines (newline-separated) of at most
    `ADDRESS_LINE_LENGTH` characters each; blank lines are dropped."""
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if not lines:
        raise FieldError(Field.ADDRESS, " must not be empty")
    if len(lines) > ADDRESS_LINES:
        raise FieldError(Field.ADDRESS, f" must have at most {ADDRESS_LINES} lines")
    return "\n".join(checked_line(line, Field.ADDRESS, ADDRESS_LINE_LENGTH) for line in lines)


def checked_channel(value: str) -> Channel:
    try:
        return Channel(value.strip().lower())
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise FieldError(Field.CHANNEL, f" must be one of {allowed}, got {value[:20]!r}") from None


def add_patient(
    session: Session,
    *,
    mrn: str,
    name: str,
    email: str | None,
    born_on: date | None,
    sex: str | None,
    site: str,
    actor: str,
    now: datetime,
    phone: str | None = None,
    address: str | None = None,
    channel: str | None = None,
) -> Patient:
    """Register a patient; the MRN must be new."""
    details = checked_details(
        mrn=mrn,
        name=name,
        email=email,
        born_on=born_on,
        sex=sex,
        site=site,
        phone=phone,
        address=address,
        channel=channel,
        today=now.date(),
    )
    mrn = details.mrn
    if session.scalar(select(Patient.id).where(Patient.mrn == mrn)) is not None:
        raise InvalidInput(f"a patient with MRN {mrn!r} already exists")
    patient = new_patient(details, now)
    session.add(patient)
    session.flush()
    record_change(
        session,
        at=now,
        actor=actor,
        action="patient.add",
        entity="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        after={"mrn": mrn, "site": details.site},
    )
    return patient


def new_patient(details: PatientDetails, now: datetime) -> Patient:
    """The row `add_patient` adds (not yet in a session)."""
    return Patient(
        mrn=details.mrn,
        name=details.name,
        email=details.email,
        born_on=details.born_on,
        sex=details.sex,
        site=details.site,
        phone=details.phone,
        address=details.address,
        channel=details.channel,
        created_at=now,
    )


def edit_identity(
    session: Session,
    *,
    mrn: str,
    name: str | None,
    born_on: date | None,
    actor: str,
    now: datetime,
) -> Patient:
    """Correct the name and/or date of birth a lab message is checked against (issue 10 item 1:
    after an identity mismatch, fix the record, then `monitor quarantine retry`). Audited with
    both values, like any change to a record."""
    patient = find_patient(session, mrn)
    name = patient.name if name is None else checked_line(name, Field.NAME, NAME_LENGTH)
    born_on = patient.born_on if born_on is None else born_on
    _check_patient_fields(born_on, None, now.date())
    before = _identity_snapshot(patient)
    patient.name, patient.born_on = name, born_on
    record_change(
        session,
        at=now,
        actor=actor,
        action="patient.edit",
        entity="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        before=before,
        after=_identity_snapshot(patient),
    )
    return patient


def _identity_snapshot(patient: Patient) -> dict[str, str | None]:
    return {"name": patient.name, "dob": patient.born_on.isoformat() if patient.born_on else None}


def _check_patient_fields(born_on: date | None, sex: str | None, today: date) -> None:
    if sex is not None and sex not in SEXES:
        raise FieldError(Field.SEX, f" must be one of {', '.join(SEXES)}, got {sex!r}")
    if born_on is not None and born_on > today:
        raise FieldError(Field.BORN_ON, f" {born_on} is in the future")


def change_status(
    session: Session,
    *,
    mrn: str,
    status: str,
    on: date,
    reason: str | None,
    actor: str,
    now: datetime,
) -> Patient:
    """Set active/withdrawn/deceased/transferred from a date; a stop cancels slots due on or
    after it (SPEC §9)."""
    try:
        new_status = PatientStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in PatientStatus)
        raise InvalidInput(f"unknown status {status!r}; use one of {allowed}") from None
    reason = checked_note(reason, Field.REASON) if reason is not None else None
    patient = find_patient(session, mrn)
    before = _status_snapshot(patient)
    patient.status, patient.status_on, patient.status_reason = new_status, on, reason
    record_change(
        session,
        at=now,
        actor=actor,
        action="patient.status",
        entity="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        before=before,
        after=_status_snapshot(patient),
    )
    return patient


def _status_snapshot(patient: Patient) -> dict[str, str | None]:
    return {
        "status": patient.status.value,
        "status_on": patient.status_on.isoformat() if patient.status_on else None,
        "reason": patient.status_reason,
    }


def add_pregnancy(
    session: Session,
    *,
    mrn: str,
    from_on: date,
    to_on: date | None,
    actor: str,
    now: datetime,
) -> Pregnancy:
    """Mark a pregnancy period (open-ended when `to_on` is None); TSH flags become urgent in it."""
    if to_on is not None and to_on < from_on:
        raise FieldError(
            Field.PREGNANCY_END, f" {to_on} is before ", Field.PREGNANCY_START, f" {from_on}"
        )
    patient = find_patient(session, mrn)
    period = Pregnancy(patient_id=patient.id, from_on=from_on, to_on=to_on, created_at=now)
    session.add(period)
    session.flush()
    record_change(
        session,
        at=now,
        actor=actor,
        action="patient.pregnancy",
        entity="pregnancy",
        entity_id=period.id,
        patient_id=patient.id,
        after={"from": from_on.isoformat(), "to": to_on.isoformat() if to_on else None},
    )
    return period


def set_email_preference(
    session: Session,
    *,
    mrn: str,
    address: str | None,
    opt_out: bool | None,
    actor: str,
    now: datetime,
) -> Patient:
    """Change a patient's email address and/or opt-out; audited with before and after."""
    if address is not None:
        address = checked_address(address, Field.EMAIL)
    patient = find_patient(session, mrn)
    before = {"email": patient.email, "opted_out": patient.email_opted_out}
    if address is not None:
        patient.email = address
    if opt_out is not None:
        patient.email_opted_out = opt_out
    record_change(
        session,
        at=now,
        actor=actor,
        action="patient.email",
        entity="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        before=before,
        after={"email": patient.email, "opted_out": patient.email_opted_out},
    )
    return patient
