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
    func,
    literal,
    literal_column,
    or_,
    select,
)
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


OUTCOMES = tuple(Outcome)  # an outcome's index in SQL is its place here


def outcome_index(on: date) -> ColumnElement[int]:
    """Each slot's outcome as of `on`, as its index in OUTCOMES (a CASE of the conditions)."""
    conditions = outcome_conditions(on)
    return case(
        *(
            (conditions[outcome], literal_column(str(index)))
            for index, outcome in enumerate(OUTCOMES)
        )
    )


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
    groups = _groups(session, wanted, on, by)
    ranks = catalogue.panel_ranks()

    def order(row: AdherenceRow) -> tuple[Any, ...]:
        rank = ranks.get((row.protocol, row.panel), len(ranks))
        return (row.month or "", row.mrn or "", row.site, rank, row.protocol, row.panel)

    rows = sorted(_rows(groups, by), key=order)
    return AdherenceReport(wanted, on, by, tuple(rows), tuple(_lateness(groups)), ranks)


NOT_ON_TIME = (Outcome.LATE, Outcome.OVERDUE, Outcome.MISSED)


@dataclass(frozen=True)
class _Group:
    """One row of the grouped query: the report's key, an outcome, days past due (for the
    outcomes not on time), a count."""

    key: tuple[str, str, str, str]  # (month or MRN, site, protocol, panel)
    outcome: Outcome
    days: int | None
    count: int


def _groups(session: Session, wanted: ReportFilter, on: date, by: ReportBy) -> list[_Group]:
    """One pass over the slots due in the period (an index range on `due_on`): each slot's
    outcome (the one of the disjoint `outcome_conditions` that holds, as a CASE) and, if it was
    not on time, its days past due, counted by the report's key. Months are grouped as due
    days (plain columns; Python adds the days of a month up). The inner query computes per
    slot, so the outer `GROUP BY` names plain columns on both databases (PostgreSQL would not
    match bound parameters otherwise)."""
    conditions = outcome_conditions(on)
    outcome = outcome_index(on)
    # Late: counted to the completion day; overdue and missed: to `on`.
    ended = case((conditions[Outcome.LATE], Slot.completed_on), else_=literal(on, Date))
    not_on_time = or_(*(conditions[o] for o in NOT_ON_TIME))
    days = case((not_on_time, days_between(ended, Slot.due_on)))
    head = Slot.due_on if by is ReportBy.MONTH else Patient.mrn
    per_slot = (
        select(
            head.label("head"),
            Patient.site.label("site"),
            Slot.protocol.label("protocol"),
            Slot.panel.label("panel"),
            outcome.label("outcome"),
            days.label("days"),
        )
        .join(Patient, Patient.id == Slot.patient_id)
        .where(in_report(wanted))
        .subquery()
    )
    keys = list(per_slot.c)
    found: Iterable[Any] = session.execute(select(*keys, func.count()).group_by(*keys))
    return [
        _Group(
            (_month(first) if by is ReportBy.MONTH else first, site, protocol, panel),
            OUTCOMES[int(index)],
            None if days_past is None else int(days_past),
            count,
        )
        for first, site, protocol, panel, index, days_past, count in found
    ]


def _month(due_on: date) -> str:
    return f"{due_on.year:04d}-{due_on.month:02d}"


def _rows(groups: Iterable[_Group], by: ReportBy) -> list[AdherenceRow]:
    """The groups added up per key (the bins only matter to the histogram)."""
    tally: dict[tuple[str, str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for group in groups:
        counted = tally[group.key]
        counted["due"] += group.count
        counted[group.outcome.value] += group.count
    rows = []
    for (first, site, protocol, panel), counted in tally.items():
        counts = Counts(**counted)
        if by is ReportBy.MONTH:
            rows.append(AdherenceRow(site, protocol, panel, counts, month=first))
        else:
            rows.append(AdherenceRow(site, protocol, panel, counts, mrn=first))
    return rows


def _lateness(groups: Iterable[_Group]) -> list[LatenessBin]:
    """The histogram of days past due of the slots not done on time."""
    late = [0] * len(LATENESS_BINS)
    not_done = [0] * len(LATENESS_BINS)
    for group in groups:
        if group.days is None:
            continue
        index = next(
            i for i, (_, high) in enumerate(LATENESS_BINS) if high is None or group.days <= high
        )
        (late if group.outcome is Outcome.LATE else not_done)[index] += group.count
    return [
        LatenessBin(low, high, late[index], not_done[index])
        for index, (low, high) in enumerate(LATENESS_BINS)
    ]
