"""The list a US prescriber keeps for the LEMTRADA REMS: each patient's monitoring, month by
month (one row per patient and month, which panels were done and on which days).

The REMS asks certified prescribers to "submit documentation of periodic monitoring" of each
patient (FDA REMS@FDA page for Lemtrada, S-REMS in reference/clinical.md §5a); this list is the
clinic's own record to fill that documentation from. Months are those of the slots' due dates,
so a month whose test was not done shows it (overdue, missed), not only the tests that were.
Each slot's outcome comes from the adherence report's conditions (`outcome_conditions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.services.reports.adherence import OUTCOMES, Outcome, outcome_index
from monitor.services.reports.period import ReportFilter, checked_filter, in_report
from monitor.store.models import Patient, Slot
from monitor.store.queries import panel_rank


@dataclass(frozen=True)
class PanelMonth:
    """One slot of the month: its panel, due day, outcome as of the list's date, and the day
    it was completed (the collection day of its last required result; None if not yet)."""

    panel: str
    due_on: date
    outcome: Outcome
    completed_on: date | None


@dataclass(frozen=True)
class RemsRow:
    mrn: str
    site: str
    month: str  # YYYY-MM
    protocol: str
    slots: tuple[PanelMonth, ...]


@dataclass(frozen=True)
class RemsList:
    protocol: str
    panels: tuple[str, ...]  # the protocol's panels in its order: one column each
    rows: list[RemsRow]


def rems_list(session: Session, catalogue: Catalogue, wanted: ReportFilter, on: date) -> RemsList:
    """Every patient's slots due in the period on one protocol (`wanted.protocol`, else the
    default alemtuzumab protocol: the REMS is Lemtrada's), a row per patient and month."""
    protocol = wanted.protocol or DEFAULT_PROTOCOL_ID
    wanted = checked_filter(
        session,
        catalogue,
        ReportFilter(wanted.first_on, wanted.last_on, wanted.site, protocol),
    )
    panels = tuple(panel.name for panel in catalogue.plan(protocol).panels)
    outcome = outcome_index(on)
    rank = panel_rank(Slot.protocol, Slot.panel, catalogue.panel_ranks())
    query = (
        select(Patient.mrn, Patient.site, Slot.panel, Slot.due_on, outcome, Slot.completed_on)
        .join(Patient, Patient.id == Slot.patient_id)
        .where(in_report(wanted))
        .order_by(Patient.mrn, Slot.due_on, rank)
    )
    return RemsList(protocol, panels, list(_rows(session.execute(query), protocol, on)))


def _rows(found: Iterable[Any], protocol: str, on: date) -> Iterator[RemsRow]:
    """Fold the slots (ordered by MRN and due day) into one row per patient and month."""
    by_month = groupby(found, key=lambda row: (row[0], row[1], row[3].year, row[3].month))
    for (mrn, site, year, month), slots in by_month:
        yield RemsRow(
            mrn,
            site,
            f"{year:04d}-{month:02d}",
            protocol,
            tuple(
                PanelMonth(panel, due_on, OUTCOMES[int(index)], _completed(completed_on, on))
                for _, _, panel, due_on, index, completed_on in slots
            ),
        )


def _completed(completed_on: date | None, on: date) -> date | None:
    """The completion day if it had happened by the list's date."""
    return completed_on if completed_on is not None and completed_on <= on else None
