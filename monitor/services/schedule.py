"""One patient's schedule and record as of a date, computed from the pure core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from monitor.domain.protocol import Protocol
from monitor.domain.schedule import monitoring_end
from monitor.domain.status import SlotStatus, is_cancelled_by_stop, slot_status
from monitor.services.slots import counted_results, domain_courses, plan_slots, waived_keys
from monitor.store.models import Patient, PatientStatus
from monitor.store.queries import find_patient


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
    """Every slot with its status as of `on`, in due-date order (panels in protocol order)."""
    patient = find_patient(session, mrn)
    courses = domain_courses(patient)
    waived = waived_keys(session, patient.id)
    views = []
    for item in plan_slots(courses, counted_results(session, patient.id), protocol):
        slot = item.slot
        status = slot_status(
            on=on,
            window_start=slot.window_start,
            window_end=slot.window_end,
            next_window_start=item.next_window_start,
            done_on=item.done_on,
            completed_on=item.completed_on,
            is_waived=(slot.panel, slot.due_on) in waived,
            is_cancelled=is_cancelled_by_stop(slot.due_on, patient.stopped_on),
        )
        missing = tuple(item.missing_on(on)) if status is SlotStatus.DUE else ()
        views.append(
            SlotView(
                slot.panel,
                slot.due_on,
                slot.window_start,
                slot.window_end,
                slot.course,
                slot.kind.value,
                status,
                missing,
            )
        )
    order = {name: rank for rank, name in enumerate(protocol.panel_names)}
    views.sort(key=lambda v: (v.due_on, order[v.panel]))
    return ScheduleView(patient.mrn, monitoring_end(courses, protocol), views)


def derived_status(patient: Patient, end: date | None, today: date) -> str:
    """The stored status, or `completed` from the day after the monitoring end (SPEC §9)."""
    if patient.status is PatientStatus.ACTIVE and end is not None and today > end:
        return "completed"
    return patient.status.value
