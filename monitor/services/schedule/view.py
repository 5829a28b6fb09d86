"""One patient's schedule as of a date, and the status a record shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.schedule import add_months
from monitor.domain.status import SlotStatus, stored_status
from monitor.domain.treatments import is_open_ended, monitoring_end
from monitor.domain.vocabulary import COUNTING_STATUSES, PatientStatus
from monitor.services.schedule.slots import domain_treatments
from monitor.store.models import Patient, Result, Slot
from monitor.store.queries import find_patient
from monitor.store.slot_predicates import pending_on


@dataclass(frozen=True)
class SlotView:
    panel: str
    due_on: date
    window_start: date
    window_end: date
    course: int | None
    kind: str
    status: SlotStatus
    missing: tuple[str, ...]
    protocol: str = "alemtuzumab"
    treatment: int = 1


@dataclass(frozen=True)
class ScheduleView:
    mrn: str
    monitoring_end: date | None
    slots: list[SlotView]


SHOWN_AHEAD_MONTHS = 12  # an open-ended series lists its slots this far ahead (SPEC §10.4)


def patient_schedule(
    session: Session, mrn: str, on: date, catalogue: Catalogue, today: date | None = None
) -> ScheduleView:
    """Every slot with its status as of `on`, in due-date order (then protocol id and the
    protocol's panel order). An open-ended series (an open uncapped treatment, an indefinite
    panel) lists its slots due up to 12 months after the later of `on` and `today`.

    Reads the stored slots (rebuilt from the pure schedule at every change to the record), so
    this view and the overdue list can never disagree; results are read only to list what a
    `due` slot still misses.
    """
    patient = find_patient(session, mrn)
    ranks = catalogue.panel_ranks()
    rows = session.execute(
        select(*SLOT_COLUMNS).where(Slot.patient_id == patient.id).order_by(Slot.due_on)
    ).all()
    shown_until = add_months(max(on, today or on), SHOWN_AHEAD_MONTHS)
    open_series = _open_series(patient, catalogue)
    rows = [
        row
        for row in rows
        if row.due_on <= shown_until or (row.protocol, row.treatment, row.panel) not in open_series
    ]
    views = [_view(session, patient.id, row, on, catalogue) for row in rows]
    views.sort(key=lambda v: (v.due_on, ranks.get((v.protocol, v.panel), len(ranks))))
    return ScheduleView(patient.mrn, patient_monitoring_end(patient, catalogue), views)


def patient_monitoring_end(patient: Patient, catalogue: Catalogue) -> date | None:
    """The latest end of the patient's treatments (None: none, or one open and uncapped)."""
    return monitoring_end(domain_treatments(patient), catalogue)


def _open_series(patient: Patient, catalogue: Catalogue) -> set[tuple[str, int, str]]:
    """(protocol, treatment number, panel) of each series planned only up to a horizon."""
    found = set()
    for number, treatment in enumerate(domain_treatments(patient), start=1):
        plan = catalogue.plan(treatment.protocol)
        whole = is_open_ended(treatment, plan)
        for panel in plan.panels:
            if whole or panel.indefinite:
                found.add((plan.id, number, panel.name))
    return found


SLOT_COLUMNS = (
    Slot.protocol,
    Slot.treatment,
    Slot.panel,
    Slot.due_on,
    Slot.window_start,
    Slot.window_end,
    Slot.course,
    Slot.kind,
    Slot.next_window_start,
    Slot.done_on,
    Slot.completed_on,
    Slot.is_waived,
    Slot.is_cancelled,
)


def _view(session: Session, patient_id: int, row: Any, on: date, catalogue: Catalogue) -> SlotView:
    status = stored_status(row, on)
    missing: tuple[str, ...] = ()
    if status is SlotStatus.DUE:
        required = catalogue.panel(row.protocol, row.panel).analytes
        missing = _missing(session, patient_id, row, on, required)
    return SlotView(
        row.panel,
        row.due_on,
        row.window_start,
        row.window_end,
        row.course,
        row.kind,
        status,
        missing,
        row.protocol,
        row.treatment,
    )


def _missing(
    session: Session, patient_id: int, row: Any, on: date, required: tuple[str, ...]
) -> tuple[str, ...]:
    """Required analytes with no counting result in the window up to `on`."""
    present = set(
        session.scalars(
            select(Result.analyte).where(
                Result.patient_id == patient_id,
                Result.analyte.in_(required),
                Result.status.in_(COUNTING_STATUSES),
                Result.collected_on >= row.window_start,
                Result.collected_on <= min(row.window_end, on),
            )
        )
    )
    return tuple(analyte for analyte in required if analyte not in present)


def next_due_on(session: Session, patient_id: int, on: date) -> date | None:
    """The earliest due date on or after `on` of a slot still to do (upcoming or due), if any."""
    return session.scalar(
        select(func.min(Slot.due_on)).where(
            Slot.patient_id == patient_id, Slot.due_on >= on, pending_on(Slot, on)
        )
    )


def derived_status(patient: Patient, end: date | None, today: date) -> str:
    """The stored status, or `completed` from the day after the monitoring end (SPEC §9)."""
    if patient.status is PatientStatus.ACTIVE and end is not None and today > end:
        return "completed"
    return patient.status.value
