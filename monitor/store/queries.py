"""Read queries that the services and the CLI share."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased, selectinload

from monitor.domain.fields import MRN_LENGTH, line_problem
from monitor.domain.rules import Severity
from monitor.errors import NotFound
from monitor.store.models import Course, Patient, Slot, Treatment
from monitor.store.slot_predicates import active_on, missed_on, overdue_halves


def find_patient(session: Session, mrn: str) -> Patient:
    """The patient with this MRN, treatments and courses loaded; NotFound (exit 2) otherwise."""
    if line_problem(mrn.strip(), MRN_LENGTH) is not None:  # no such MRN can be stored
        raise NotFound(f"unknown MRN {mrn[:MRN_LENGTH]!r}")
    patient = session.scalar(select(Patient).where(Patient.mrn == mrn.strip()).options(*_RECORD))
    if patient is None:
        raise NotFound(f"unknown MRN {mrn!r}")
    return patient


def find_patients(session: Session, mrns: Collection[str], batch: int = 500) -> dict[str, Patient]:
    """The patients with these MRNs (stored exactly so), loaded as `find_patient` loads one, in
    a few queries per `batch` of MRNs: a lab file names hundreds (issue 15). Unknown ones are
    left out."""
    wanted = sorted(set(mrns))
    found: dict[str, Patient] = {}
    for start in range(0, len(wanted), batch):
        part = wanted[start : start + batch]
        query = select(Patient).where(Patient.mrn.in_(part)).options(*_RECORD)
        found.update((patient.mrn, patient) for patient in session.scalars(query))
    return found


_RECORD = (  # what a patient's record is read with: treatments, courses and their infusions
    selectinload(Patient.treatments).selectinload(Treatment.courses).selectinload(Course.infusions),
    selectinload(Patient.courses).selectinload(Course.infusions),
)


@dataclass(frozen=True)
class OverdueRow:
    patient_id: int
    mrn: str
    site: str
    panel: str
    due_on: date
    days_overdue: int
    missed: int
    protocol: str = "alemtuzumab"
    treatment: int = 1


def panel_rank(
    protocol: Any, panel: Any, ranks: Mapping[tuple[str, str], int]
) -> ColumnElement[int]:
    """A (protocol, panel) pair's place in the listing order, in SQL (unknown pairs last)."""
    if not ranks:
        return literal(0)
    whens = [(and_(protocol == p, panel == n), rank) for (p, n), rank in ranks.items()]
    return case(*whens, else_=len(ranks))


def overdue_list(
    session: Session,
    on: date,
    panel_ranks: Mapping[tuple[str, str], int],
    site: str | None = None,
    *,
    patient_ids: Collection[int] | None = None,
) -> list[OverdueRow]:
    """Every overdue slot of every active patient as of `on` (SPEC §3.3), most overdue first;
    ties by MRN, then by protocol id and the protocol's panel order (`panel_ranks`, from
    `Catalogue.panel_ranks`). `patient_ids` restricts it to those patients (the Today page's
    cache patches changed patients with it). `missed` counts the series' missed slots.

    Read in `slot_predicates.overdue_halves`' two halves, one `UNION ALL` branch each, so each
    has an index: slots never completed (the partial index `ix_slots_open`, which holds only
    past missed/overdue and future slots) and slots completed after `on` (only non-empty for a
    past `--as-of`).
    """
    earlier = aliased(Slot)
    missed = (
        select(func.count())
        .where(
            earlier.patient_id == Slot.patient_id,
            earlier.protocol == Slot.protocol,
            earlier.treatment == Slot.treatment,
            earlier.panel == Slot.panel,
            missed_on(earlier, on),
        )
        .scalar_subquery()
    )
    listed = active_on(on)
    if site is not None:
        listed = and_(listed, Patient.site == site)
    if patient_ids is not None:
        listed = and_(listed, Slot.patient_id.in_(list(patient_ids)))
    columns = (
        Patient.id, Patient.mrn, Patient.site, Slot.panel, Slot.due_on, missed, Slot.protocol,
        Slot.treatment,
    )  # fmt: skip
    halves = [
        select(*columns).join(Patient, Patient.id == Slot.patient_id).where(half, listed)
        for half in overdue_halves(Slot, on)
    ]
    rows = union_all(*halves).subquery()
    rank = panel_rank(rows.c.protocol, rows.c.panel, panel_ranks)
    query = select(rows).order_by(rows.c.due_on, rows.c.mrn, rank)
    return [
        OverdueRow(pid, mrn, row_site, panel, due_on, (on - due_on).days, count, protocol, number)
        for pid, mrn, row_site, panel, due_on, count, protocol, number in session.execute(query)
    ]


def severity_rank(column: Any) -> ColumnElement[int]:
    """`Severity.rank` in SQL (0 for anything else), so flags sort in clinical order."""
    return case({severity.value: severity.rank for severity in Severity}, value=column, else_=0)
