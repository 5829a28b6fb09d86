"""One patient's schedule as of a date, and the status a record shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.domain.protocol import Protocol
from monitor.domain.schedule import monitoring_end
from monitor.domain.status import SlotStatus, stored_status
from monitor.domain.vocabulary import COUNTING_STATUSES, PatientStatus
from monitor.services.schedule.slots import domain_courses
from monitor.store.models import Patient, Result, Slot
from monitor.store.queries import find_patient
from monitor.store.slot_predicates import pending_on


@dataclass(frozen=True)
class SlotView:
    panel: str
    due_on: date
    window_start: date
    window_end: date
    course: int
    kind: str
    status: SlotStatus
    missing: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleView:
    mrn: str
    monitoring_end: date | None
    slots: list[SlotView]


def patient_schedule(session: Session, mrn: str, on: date, protocol: Protocol) -> ScheduleView:
    """Every slot with its status as of `on`, in due-date order (panels in protocol order).

    Reads the stored slots (rebuilt from the pure schedule at every change to the record), so
    this view and the overdue list can never disagree; results are read only to list what a
    `due` slot still misses.
    """
    patient = find_patient(session, mrn)
    order = {name: rank for rank, name in enumerate(protocol.panel_names)}
    rows = session.execute(
        select(*SLOT_COLUMNS).where(Slot.patient_id == patient.id).order_by(Slot.due_on)
    ).all()
    views = [_view(session, patient.id, row, on, protocol) for row in rows]
    views.sort(key=lambda v: (v.due_on, order.get(v.panel, len(order))))
    return ScheduleView(patient.mrn, monitoring_end(domain_courses(patient), protocol), views)


SLOT_COLUMNS = (
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


def _view(session: Session, patient_id: int, row: Any, on: date, protocol: Protocol) -> SlotView:
    status = stored_status(row, on)
    missing: tuple[str, ...] = ()
    if status is SlotStatus.DUE:
        missing = _missing(session, patient_id, row, on, protocol.panel(row.panel).analytes)
    return SlotView(
        row.panel,
        row.due_on,
        row.window_start,
        row.window_end,
        row.course,
        row.kind,
        status,
        missing,
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
