"""Lab request forms: the tests a patient is due, for the GP surgery or phlebotomist who draws
the blood (issue 14, item 5).

"Due" is spelled once, by `store.slot_predicates`: a form lists every slot that is overdue on
the day, and every slot still to do (upcoming or due) whose due date falls within the next
`due_within` days. A panel none of whose analytes has a LOINC code (the skin check, cervical
screening: clinical.md §4, "not lab analytes") is not a lab test and is left off. The form is
for staff, so it names the patient (name, date of birth, MRN: what a lab needs to label a
sample), but it never names the drug, a result or a flag (docs/decisions.md, "Lab request
forms"), because the patient carries it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.codes import codes_by_analyte
from monitor.domain.fields import SITE_LENGTH, checked_line
from monitor.errors import Field, InvalidInput
from monitor.store.models import Patient, Slot
from monitor.store.queries import find_patient
from monitor.store.slot_predicates import active_on, overdue_on, pending_on

DEFAULT_DUE_WITHIN = 14  # days: a fortnight covers the time to book a GP or phlebotomy slot
MAX_DUE_WITHIN = 92  # a quarter: further ahead a form would be stale before it is used


@dataclass(frozen=True)
class RequestedAnalyte:
    name: str
    loinc: tuple[str, ...]  # empty: the clinic's code map names none


@dataclass(frozen=True)
class RequestedTest:
    """One panel to draw, by its earliest due date (several slots of a panel: one draw)."""

    protocol: str
    panel: str
    due_on: date
    analytes: tuple[RequestedAnalyte, ...]


@dataclass(frozen=True)
class RequestForm:
    mrn: str
    name: str
    born_on: date | None
    site: str
    on: date
    tests: tuple[RequestedTest, ...]

    @property
    def due_by(self) -> date:
        """The earliest due date on the form (before `on` when something is overdue)."""
        return min(test.due_on for test in self.tests)

    @property
    def is_overdue(self) -> bool:
        return self.due_by < self.on


def checked_due_within(days: int) -> int:
    if not 0 <= days <= MAX_DUE_WITHIN:
        raise InvalidInput(f"--due-within {days} must be from 0 to {MAX_DUE_WITHIN} days")
    return days


def request_form(
    session: Session,
    mrn: str,
    on: date,
    catalogue: Catalogue,
    loinc: Mapping[str, str],
    due_within: int = DEFAULT_DUE_WITHIN,
) -> RequestForm:
    """One patient's form as of `on`; InvalidInput when nothing is due (no empty form)."""
    patient = find_patient(session, mrn)
    last = on + timedelta(days=checked_due_within(due_within))
    forms = _forms(session, on, last, catalogue, loinc, patient_id=patient.id)
    if not forms:
        raise InvalidInput(
            f"{patient.mrn} has no lab tests overdue or due by {last} "
            f"(within {due_within} days of {on}): no request form to print"
        )
    return forms[0]


def request_forms(
    session: Session,
    on: date,
    catalogue: Catalogue,
    loinc: Mapping[str, str],
    due_within: int = DEFAULT_DUE_WITHIN,
    site: str | None = None,
) -> list[RequestForm]:
    """A form for every active patient (one site's, or all) with a lab test overdue or due
    within `due_within` days of `on`, by MRN."""
    if site is not None:
        site = checked_line(site, Field.SITE, SITE_LENGTH)
    last = on + timedelta(days=checked_due_within(due_within))
    return _forms(session, on, last, catalogue, loinc, site=site)


def _forms(
    session: Session,
    on: date,
    last: date,
    catalogue: Catalogue,
    loinc: Mapping[str, str],
    *,
    patient_id: int | None = None,
    site: str | None = None,
) -> list[RequestForm]:
    due = or_(overdue_on(Slot, on), and_(pending_on(Slot, on), Slot.due_on <= last))
    query = (
        select(Patient, Slot.protocol, Slot.panel, Slot.due_on)
        .join(Patient, Patient.id == Slot.patient_id)
        .where(due, active_on(on))
        .order_by(Patient.mrn, Slot.due_on)
    )
    if patient_id is not None:
        query = query.where(Patient.id == patient_id)
    if site is not None:
        query = query.where(Patient.site == site)
    codes = codes_by_analyte(loinc)
    ranks = catalogue.panel_ranks()
    tests: dict[int, dict[tuple[str, str], RequestedTest]] = {}
    patients: dict[int, Patient] = {}
    for patient, protocol, panel, due_on in session.execute(query):
        analytes = tuple(
            RequestedAnalyte(name, codes.get(name, ()))
            for name in catalogue.panel(protocol, panel).analytes
        )
        if not any(analyte.loinc for analyte in analytes):
            continue  # an examination, not a lab test (clinical.md §4)
        patients[patient.id] = patient
        tests.setdefault(patient.id, {}).setdefault(
            (protocol, panel), RequestedTest(protocol, panel, due_on, analytes)
        )
    return [
        _form(patients[pid], on, sorted(found.values(), key=lambda t: _order(t, ranks)))
        for pid, found in tests.items()
    ]


def _order(test: RequestedTest, ranks: Mapping[tuple[str, str], int]) -> tuple[date, int]:
    return (test.due_on, ranks.get((test.protocol, test.panel), len(ranks)))


def _form(patient: Patient, on: date, tests: Sequence[RequestedTest]) -> RequestForm:
    return RequestForm(patient.mrn, patient.name, patient.born_on, patient.site, on, tuple(tests))
