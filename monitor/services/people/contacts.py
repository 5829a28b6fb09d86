"""The contact log: each attempt a nurse makes to reach a patient (a call, a letter), and its
readings: one patient's log, the last contact of many patients at once, and who is booked ahead.

A contact is never changed or deleted (a wrong entry is followed by a right one: the last
contact is what the lists read). Recording one is audited like every change a person makes.

`booked` needs the date agreed (`booked_on`), today or later: a booking records an
appointment still to come, which is what hides the patient from the overdue list until it has
passed; a test the patient says they already had is recorded as `reached` with a note, and its
result will complete the slot. Any other outcome takes no booked date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, aliased

from monitor.domain.fields import PERSON_LENGTH, checked_line, checked_note
from monitor.domain.vocabulary import SUCCESSFUL_CONTACTS, ContactOutcome
from monitor.errors import Field, FieldError
from monitor.services.audit import record_change
from monitor.store.models import Contact
from monitor.store.queries import find_patient

NOTE_LIMIT = 500  # what a nurse jots after a call; longer notes belong in the clinical record
IDS_PER_QUERY = 1000  # ids per IN list, well under every database's bound
OUTCOMES = tuple(outcome.value for outcome in ContactOutcome)


@dataclass(frozen=True)
class ContactView:
    """One contact attempt as the screens, the CLI and the exports show it."""

    id: int
    patient_id: int
    contacted_at: datetime
    outcome: ContactOutcome
    contact_by: str
    booked_on: date | None
    note: str | None

    @property
    def successful(self) -> bool:
        return self.outcome in SUCCESSFUL_CONTACTS


def parse_outcome(value: str) -> ContactOutcome:
    """An outcome from its name (`no-answer`...), or a FieldError listing the allowed ones."""
    try:
        return ContactOutcome(value.strip())
    except ValueError:
        raise FieldError(
            Field.OUTCOME, f" {value[:40]!r} is not one of {', '.join(OUTCOMES)}"
        ) from None


def record_contact(
    session: Session,
    *,
    mrn: str,
    outcome: ContactOutcome | str,
    by: str,
    booked_on: date | None,
    note: str | None,
    actor: str,
    today: date,
    now: datetime,
) -> ContactView:
    """Log one attempt to reach the patient with this MRN (audited under `actor`).

    Every check comes before anything is written, so a refused contact leaves no row.
    """
    chosen = outcome if isinstance(outcome, ContactOutcome) else parse_outcome(outcome)
    by = checked_line(by, Field.CONTACT_BY, PERSON_LENGTH)
    _check_booking(chosen, booked_on, today)
    note = checked_note(note, Field.NOTE, NOTE_LIMIT) if note and note.strip() else None
    patient = find_patient(session, mrn)
    contact = Contact(
        patient_id=patient.id,
        contacted_at=now,
        outcome=chosen,
        contact_by=by,
        booked_on=booked_on,
        note=note,
    )
    session.add(contact)
    session.flush()  # the audit entry names the contact's id
    record_change(
        session,
        at=now,
        actor=actor,
        action="contact.add",
        entity="contact",
        entity_id=contact.id,
        patient_id=patient.id,
        after={
            "outcome": chosen.value,
            "contact_by": by,
            "booked_on": booked_on.isoformat() if booked_on else None,
            "note": note,
        },
    )
    return _view(contact)


def _check_booking(outcome: ContactOutcome, booked_on: date | None, today: date) -> None:
    if outcome is ContactOutcome.BOOKED:
        if booked_on is None:
            raise FieldError(Field.BOOKED_ON, " is required for a booked contact")
        if booked_on < today:
            raise FieldError(
                Field.BOOKED_ON, f" {booked_on.isoformat()} is in the past (today is {today})"
            )
    elif booked_on is not None:
        raise FieldError(Field.BOOKED_ON, f" is only for the outcome {ContactOutcome.BOOKED}")


def contact_list(session: Session, mrn: str) -> list[ContactView]:
    """The patient's contact log, newest first."""
    patient = find_patient(session, mrn)
    contacts = session.scalars(
        select(Contact)
        .where(Contact.patient_id == patient.id)
        .order_by(Contact.contacted_at.desc(), Contact.id.desc())
    )
    return [_view(contact) for contact in contacts]


def last_contacts(session: Session, patient_ids: Sequence[int]) -> dict[int, ContactView]:
    """The latest contact of each of these patients that has one: one query per thousand ids
    (the newest row of each patient, by a window function over `ix_contacts_patient_at`)."""
    found: dict[int, ContactView] = {}
    ids = list(dict.fromkeys(patient_ids))
    for start in range(0, len(ids), IDS_PER_QUERY):
        newest, first = _newest(Contact.patient_id.in_(ids[start : start + IDS_PER_QUERY]))
        found.update((c.patient_id, _view(c)) for c in session.scalars(select(newest).where(first)))
    return found


def booked_ahead(session: Session, on: date) -> dict[int, date]:
    """Patients whose last contact booked them for `on` or later, and that date: the overdue
    list hides them through their booked date and shows them again the day after."""
    booked = select(Contact.patient_id).where(
        Contact.outcome == ContactOutcome.BOOKED, Contact.booked_on >= on
    )
    newest, first = _newest(Contact.patient_id.in_(booked))
    rows = session.execute(
        select(newest.patient_id, newest.booked_on).where(
            first, newest.outcome == ContactOutcome.BOOKED, newest.booked_on >= on
        )
    )
    return {patient_id: booked_on for patient_id, booked_on in rows if booked_on is not None}


def last_successful(session: Session, patient_ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these patients was last reached or booked (`SUCCESSFUL_CONTACTS`)."""
    found: dict[int, datetime] = {}
    ids = list(dict.fromkeys(patient_ids))
    for start in range(0, len(ids), IDS_PER_QUERY):
        rows = session.execute(
            select(Contact.patient_id, func.max(Contact.contacted_at))
            .where(
                Contact.patient_id.in_(ids[start : start + IDS_PER_QUERY]),
                Contact.outcome.in_(SUCCESSFUL_CONTACTS),
            )
            .group_by(Contact.patient_id)
        )
        found.update((patient_id, at) for patient_id, at in rows)
    return found


def _newest(*criteria: ColumnElement[bool]) -> tuple[type[Contact], ColumnElement[bool]]:
    """Contacts matching `criteria` ranked per patient, newest first (ties on the instant go to
    the later row), and the condition that keeps each patient's first."""
    place = (
        func.row_number()
        .over(
            partition_by=Contact.patient_id,
            order_by=(Contact.contacted_at.desc(), Contact.id.desc()),
        )
        .label("place")
    )
    ranked = select(Contact, place).where(*criteria).subquery()
    return aliased(Contact, ranked), ranked.c.place == 1


def _view(contact: Contact) -> ContactView:
    return ContactView(
        id=contact.id,
        patient_id=contact.patient_id,
        contacted_at=contact.contacted_at,
        outcome=contact.outcome,
        contact_by=contact.contact_by,
        booked_on=contact.booked_on,
        note=contact.note,
    )
