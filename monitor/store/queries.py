"""Read queries that the services and the CLI share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased, selectinload

from monitor.domain.fields import MRN_LENGTH, line_problem
from monitor.domain.vocabulary import PatientStatus
from monitor.errors import NotFound
from monitor.store.models import Course, Patient, Slot


def find_patient(session: Session, mrn: str) -> Patient:
    """The patient with this MRN, courses loaded; NotFound (exit 2) otherwise."""
    if line_problem(mrn.strip(), MRN_LENGTH) is not None:  # no such MRN can be stored
        raise NotFound(f"unknown MRN {mrn[:MRN_LENGTH]!r}")
    patient = session.scalar(
        select(Patient)
        .where(Patient.mrn == mrn.strip())
        .options(selectinload(Patient.courses).selectinload(Course.infusions))
    )
    if patient is None:
        raise NotFound(f"unknown MRN {mrn!r}")
    return patient


@dataclass(frozen=True)
class OverdueRow:
    patient_id: int
    mrn: str
    site: str
    panel: str
    due_on: date
    days_overdue: int
    missed: int


def active_on(on: date) -> ColumnElement[bool]:
    """Patients not stopped on or before `on` (SPEC §9's meaning of "active")."""
    return or_(
        Patient.status == PatientStatus.ACTIVE,
        Patient.status_on.is_(None),
        Patient.status_on > on,
    )


def overdue_on(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """SPEC §3.2's `overdue` in SQL: past the window, not completed, next window not yet open."""
    return and_(
        slot.window_end < on,
        or_(slot.overdue_until.is_(None), slot.overdue_until > on),
        slot.is_waived.is_(False),
        slot.is_cancelled.is_(False),
    )


def missed_on(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """SPEC §3.2's `missed` in SQL: past the window, not completed by `on`, next window open."""
    return and_(
        slot.window_end < on,
        slot.next_window_start <= on,
        or_(slot.completed_on.is_(None), slot.completed_on > on),
        slot.is_waived.is_(False),
        slot.is_cancelled.is_(False),
    )


def overdue_list(
    session: Session, on: date, panel_order: Sequence[str], site: str | None = None
) -> list[OverdueRow]:
    """Every overdue slot of every active patient as of `on` (SPEC §3.3), most overdue first;
    ties by MRN, then by panel in protocol order.

    `overdue_on` split in two so each half has an index: slots never completed (the partial
    index `ix_slots_open`, which holds only past missed/overdue and future slots) and slots
    completed after `on` (only non-empty for a past `--as-of`).
    """
    earlier = aliased(Slot)
    missed = (
        select(func.count())
        .where(
            earlier.patient_id == Slot.patient_id,
            earlier.panel == Slot.panel,
            missed_on(earlier, on),
        )
        .scalar_subquery()
    )
    still_open = and_(
        Slot.window_end < on,
        or_(Slot.next_window_start.is_(None), Slot.next_window_start > on),
        Slot.is_waived.is_(False),
        Slot.is_cancelled.is_(False),
        active_on(on),
    )
    if site is not None:
        still_open = and_(still_open, Patient.site == site)
    columns = (Patient.id, Patient.mrn, Patient.site, Slot.panel, Slot.due_on, missed)
    halves = [
        select(*columns).join(Patient, Patient.id == Slot.patient_id).where(completion, still_open)
        for completion in (Slot.completed_on.is_(None), Slot.completed_on > on)
    ]
    rows = union_all(*halves).subquery()
    panel_rank = case({name: rank for rank, name in enumerate(panel_order)}, value=rows.c.panel)
    query = select(rows).order_by(rows.c.due_on, rows.c.mrn, panel_rank)
    return [
        OverdueRow(pid, mrn, row_site, panel, due_on, (on - due_on).days, count)
        for pid, mrn, row_site, panel, due_on, count in session.execute(query)
    ]


def severity_rank(column: Any) -> ColumnElement[int]:
    return case({"review": 1, "urgent": 2, "emergency": 3}, value=column, else_=0)
