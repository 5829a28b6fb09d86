"""Adherence to the monitoring schedule: for the slots due in a period, how many were done on
time, late, are overdue or missed, were waived or cancelled, or are still open; by month, site,
protocol and panel, or by patient. What the published audits measure (docs/decisions.md,
"Adherence reports", which also defines the percentages).

Every count is one SQL aggregate (`GROUP BY`) over the stored slots, with each slot's outcome
decided by the conditions of `store.slot_predicates` (the ones the overdue list is made of), so
the report and the nurses' list cannot disagree; tests/services/test_adherence.py holds the
counts against `domain.status.slot_status` on the same slots. Python only adds up the groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    case,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.schedule import add_months
from monitor.domain.status import SlotStatus
from monitor.services.reports.period import ReportFilter, checked_filter, in_report
from monitor.store.date_sql import days_between
from monitor.store.models import Patient, Slot
from monitor.store.slot_predicates import (
    cancelled,
    done_by,
    late_by,
    missed_on,
    overdue_on,
    pending_on,
    waived,
)


class Outcome(StrEnum):
    """A due slot's place in the report: its SPEC §3.2 status as of the report's date, with
    `upcoming` and `due` together as `open` (its window has not closed; nothing to judge yet)."""

    DONE = "done"
    LATE = "late"
    OVERDUE = "overdue"
    MISSED = "missed"
    WAIVED = "waived"
    CANCELLED = "cancelled"
    OPEN = "open"


def outcome_of(status: SlotStatus) -> Outcome:
    """The report's column for a slot in this status."""
    if status in (SlotStatus.UPCOMING, SlotStatus.DUE):
        return Outcome.OPEN
    return Outcome(status.value)


def outcome_conditions(on: date) -> dict[Outcome, ColumnElement[bool]]:
    """Each outcome as of `on` as the SQL condition of `store.slot_predicates` (disjoint: one
    holds for every slot)."""
    return {
        Outcome.DONE: done_by(Slot, on),
        Outcome.LATE: late_by(Slot, on),
        Outcome.OVERDUE: overdue_on(Slot, on),
        Outcome.MISSED: missed_on(Slot, on),
        Outcome.WAIVED: waived(Slot),
        Outcome.CANCELLED: cancelled(Slot),
        Outcome.OPEN: pending_on(Slot, on),
    }


class ReportBy(StrEnum):
    MONTH = "month"
    PATIENT = "patient"


@dataclass(frozen=True)
class Counts:
    """Slots due, and how each stands. `assessed` are those whose on-time outcome is settled
    (done on time, or the window closed): due minus waived, cancelled and still open."""

    due: int = 0
    done: int = 0
    late: int = 0
    overdue: int = 0
    missed: int = 0
    waived: int = 0
    cancelled: int = 0
    open: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def assessed(self) -> int:
        return self.done + self.late + self.overdue + self.missed

    @property
    def on_time_pct(self) -> float | None:
        """Done within the window, of the assessed (None when nothing is assessed yet)."""
        return _percent(self.done, self.assessed)

    @property
    def completed_pct(self) -> float | None:
        """Done on time or late, of the assessed."""
        return _percent(self.done + self.late, self.assessed)

    def as_dict(self) -> dict[str, Any]:
        counted = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            **counted,
            "assessed": self.assessed,
            "on_time_pct": self.on_time_pct,
            "completed_pct": self.completed_pct,
        }


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class AdherenceRow:
    """One group: a month (YYYY-MM) or a patient (MRN), at a site, for one protocol's panel."""

    site: str
    protocol: str
    panel: str
    counts: Counts
    month: str | None = None
    mrn: str | None = None


# Days past the due date, for the histogram (the last bin has no upper end).
LATENESS_BINS: tuple[tuple[int, int | None], ...] = (
    (1, 7), (8, 14), (15, 30), (31, 60), (61, 90), (91, 180), (181, None),
)  # fmt: skip


@dataclass(frozen=True)
class LatenessBin:
    """Slots not done on time, by days past the due date: `late` ones counted to the day they
    were completed, `not_done` ones (overdue or missed) to the report's date."""

    low: int
    high: int | None
    late: int
    not_done: int

    @property
    def label(self) -> str:
        return f"{self.low}-{self.high}" if self.high is not None else f"over {self.low - 1}"


@dataclass(frozen=True)
class PanelSeries:
    """One panel's on-time percentage month by month (None: nothing assessed that month)."""

    protocol: str
    panel: str
    points: tuple[tuple[str, float | None], ...]


@dataclass(frozen=True)
class AdherenceReport:
    wanted: ReportFilter
    on: date
    by: ReportBy
    rows: tuple[AdherenceRow, ...]
    lateness: tuple[LatenessBin, ...]
    panel_ranks: Mapping[tuple[str, str], int] = field(default_factory=dict, compare=False)

    @property
    def months(self) -> tuple[str, ...]:
        """Every month of the period, YYYY-MM."""
        found, month = [], self.wanted.first_on.replace(day=1)
        while month <= self.wanted.last_on:
            found.append(month.strftime("%Y-%m"))
            month = add_months(month, 1)
        return tuple(found)

    @property
    def total(self) -> Counts:
        return sum((row.counts for row in self.rows), Counts())

    def panel_totals(self) -> list[AdherenceRow]:
        """Each (protocol, panel) over the period and every site of the report, in row order."""
        totals: dict[tuple[str, str], Counts] = {}
        for row in self.rows:
            key = (row.protocol, row.panel)
            totals[key] = totals.get(key, Counts()) + row.counts
        order = sorted(totals, key=lambda key: self._rank(key))
        site = self.wanted.site or "all"
        return [AdherenceRow(site, p, n, totals[p, n]) for p, n in order]

    def on_time_series(self) -> list[PanelSeries]:
        """On-time percentage by month for each panel (every site of the report together)."""
        by_panel: dict[tuple[str, str], dict[str, Counts]] = defaultdict(dict)
        for row in self.rows:
            if row.month is None:
                continue
            months = by_panel[row.protocol, row.panel]
            months[row.month] = months.get(row.month, Counts()) + row.counts
        return [
            PanelSeries(
                protocol,
                panel,
                tuple(
                    (m, by_panel[protocol, panel].get(m, Counts()).on_time_pct) for m in self.months
                ),
            )
            for protocol, panel in sorted(by_panel, key=self._rank)
        ]

    def _rank(self, key: tuple[str, str]) -> tuple[int, str, str]:
        """The catalogue's listing order (protocol id, then its panel order)."""
        return (self.panel_ranks.get(key, len(self.panel_ranks)), *key)


def adherence_report(
    session: Session,
    catalogue: Catalogue,
    wanted: ReportFilter,
    on: date,
    by: ReportBy = ReportBy.MONTH,
) -> AdherenceReport:
    """The report for the slots due in `wanted`'s period, each as of `on` (InvalidInput for a
    period ending before it starts, an unknown site or protocol)."""
    checked_filter(session, catalogue, wanted)
    if by is ReportBy.MONTH:
        rows = _month_rows(session, wanted, on)
    else:
        rows = _patient_rows(session, wanted, on)
    ranks = catalogue.panel_ranks()

    def order(row: AdherenceRow) -> tuple[Any, ...]:
        rank = ranks.get((row.protocol, row.panel), len(ranks))
        return (row.month or "", row.mrn or "", row.site, rank, row.protocol, row.panel)

    return AdherenceReport(
        wanted,
        on,
        by,
        tuple(sorted(rows, key=order)),
        tuple(_lateness(session, wanted, on)),
        ranks,
    )


def _counted(on: date) -> list[Any]:
    """`count(CASE WHEN <outcome> THEN 1 END)` per outcome, and the slots due."""
    one: ColumnElement[int] = literal_column("1")
    return [func.count().label("due")] + [
        func.count(case((condition, one))).label(outcome.value)
        for outcome, condition in outcome_conditions(on).items()
    ]


def _counts(row: RowMapping) -> Counts:
    return Counts(**{f.name: int(row[f.name]) for f in fields(Counts)})


def _month_rows(session: Session, wanted: ReportFilter, on: date) -> Iterable[AdherenceRow]:
    year = extract("year", Slot.due_on).label("year")
    month = extract("month", Slot.due_on).label("month")
    keys = (year, month, Patient.site, Slot.protocol, Slot.panel)
    query = (
        select(*keys, *_counted(on))
        .join(Patient, Patient.id == Slot.patient_id)
        .where(in_report(wanted))
        .group_by(*keys)
    )
    for row in session.execute(query).mappings():
        yield AdherenceRow(
            row["site"],
            row["protocol"],
            row["panel"],
            _counts(row),
            month=f"{int(row['year']):04d}-{int(row['month']):02d}",
        )


def _patient_rows(session: Session, wanted: ReportFilter, on: date) -> Iterable[AdherenceRow]:
    keys = (Patient.mrn, Patient.site, Slot.protocol, Slot.panel)
    query = (
        select(*keys, *_counted(on))
        .join(Patient, Patient.id == Slot.patient_id)
        .where(in_report(wanted))
        .group_by(*keys)
    )
    for row in session.execute(query).mappings():
        yield AdherenceRow(row["site"], row["protocol"], row["panel"], _counts(row), mrn=row["mrn"])


def _lateness(session: Session, wanted: ReportFilter, on: date) -> list[LatenessBin]:
    """The histogram of days past due, grouped in SQL (the bin is computed per slot in an inner
    query, so the outer `GROUP BY` names plain columns on both databases)."""
    is_late = late_by(Slot, on)
    ended = case((is_late, Slot.completed_on), else_=literal(on, Date))
    days = days_between(ended, Slot.due_on)
    one: ColumnElement[int] = literal_column("1")
    bins = case(
        *(
            (days <= literal_column(str(high)), literal_column(str(index)))
            for index, (_, high) in enumerate(LATENESS_BINS)
            if high is not None
        ),
        else_=literal_column(str(len(LATENESS_BINS) - 1)),
    )
    per_slot = (
        select(bins.label("bin"), case((is_late, one), else_=literal_column("0")).label("late"))
        .join(Patient, Patient.id == Slot.patient_id)
        .where(in_report(wanted), or_(is_late, overdue_on(Slot, on), missed_on(Slot, on)))
        .subquery()
    )
    query = select(per_slot.c.bin, per_slot.c.late, func.count()).group_by(
        per_slot.c.bin, per_slot.c.late
    )
    found: dict[tuple[int, bool], int] = {
        (int(index), bool(late)): count for index, late, count in session.execute(query)
    }
    return [
        LatenessBin(low, high, found.get((index, True), 0), found.get((index, False), 0))
        for index, (low, high) in enumerate(LATENESS_BINS)
    ]
