"""The patient's schedule as month-by-panel grids: one section per treatment (SPEC §10: a
series is one treatment and panel), each in blocks of one calendar year.

A treatment's grid runs from the month of its first slot or dose to the month its monitoring
ends (or its last slot shown); every slot of that treatment sits in the cell of its panel and
due month, coloured by its status as of today. A panel with two slots in one month (a baseline
beside a monthly slot) shows both. Above the panels, the treatment's own row marks its doses
(by course) or its start and stop (`web.timeline`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from monitor.domain.catalogue import Catalogue
from monitor.services.people.record import TreatmentView
from monitor.services.schedule.view import SlotView
from monitor.web.timeline import Event, EventKind, ends_on, treatment_events

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# status -> (symbol in the cell, words for the legend and tooltips)
STATUS_MARKS = {
    "done": ("✓", "done"),
    "late": ("L", "done late"),
    "due": ("D", "due now"),
    "overdue": ("!", "overdue"),
    "missed": ("✗", "missed"),
    "waived": ("W", "waived"),
    "cancelled": ("\u2013", "cancelled"),
    "upcoming": ("·", "upcoming"),
}

# event kind -> (symbol on the treatment's row, words for the legend)
EVENT_MARKS = {
    EventKind.INFUSION.value: ("C", "course of doses (C1 = course 1)"),
    EventKind.START.value: ("▶", "treatment started"),
    EventKind.STOP.value: ("■", "treatment stopped"),
}


@dataclass(frozen=True)
class Cell:
    month: int
    in_range: bool
    is_now: bool
    slots: tuple[SlotView, ...]


@dataclass(frozen=True)
class Row:
    panel: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Mark:
    """One mark on a treatment's row: a course's doses in that month, a start or a stop."""

    kind: str
    text: str
    on: date
    words: str


@dataclass(frozen=True)
class MarkCell:
    month: int
    in_range: bool
    is_now: bool
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class YearBlock:
    year: int
    rows: tuple[Row, ...]
    marks: tuple[MarkCell, ...] = ()  # the treatment's row, Jan first; () without events


@dataclass(frozen=True)
class TreatmentGrid:
    """One treatment's section of the schedule."""

    treatment: TreatmentView
    ends_on: date | None
    blocks: tuple[YearBlock, ...]


def treatment_grids(
    slots: Sequence[SlotView],
    treatments: Sequence[TreatmentView],
    catalogue: Catalogue,
    today: date,
) -> list[TreatmentGrid]:
    """One grid per treatment, in number order; its rows are its protocol's panels."""
    grids = []
    for treatment in treatments:
        own = [
            s for s in slots if s.treatment == treatment.number and s.protocol == treatment.protocol
        ]
        panels = [panel.name for panel in catalogue.plan(treatment.protocol).panels]
        end = ends_on(treatment, catalogue)
        events = treatment_events(treatment)
        blocks = schedule_grid(own, panels, end, today, events)
        grids.append(TreatmentGrid(treatment, end, tuple(blocks)))
    return grids


def schedule_grid(
    slots: Sequence[SlotView],
    panels: Sequence[str],
    end: date | None,
    today: date,
    events: Sequence[Event] = (),
) -> list[YearBlock]:
    """Year blocks from the first slot's or event's month to the monitoring end (or the last
    slot or event, when later or when there is no end)."""
    if not slots and not events:
        return []
    days = [slot.due_on for slot in slots] + [event.on for event in events]
    first = min(days)
    last = max(days + ([end] if end is not None else []))
    by_cell: dict[tuple[str, int, int], list[SlotView]] = defaultdict(list)
    for slot in slots:
        by_cell[(slot.panel, slot.due_on.year, slot.due_on.month)].append(slot)
    shown = [p for p in panels if any(slot.panel == p for slot in slots)]
    marks = _marks(events)
    return [
        YearBlock(
            year,
            tuple(_row(panel, year, first, last, today, by_cell) for panel in shown),
            _mark_row(year, first, last, today, marks) if events else (),
        )
        for year in range(first.year, last.year + 1)
    ]


def _marks(events: Sequence[Event]) -> dict[tuple[int, int], list[Mark]]:
    """Marks by (year, month): one per course with doses that month, one per start or stop."""
    found: dict[tuple[int, int], list[Mark]] = defaultdict(list)
    doses: dict[tuple[int, int, int], list[Event]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.on):
        if event.kind is EventKind.INFUSION and event.course is not None:
            doses[(event.on.year, event.on.month, event.course)].append(event)
        else:
            symbol, _ = EVENT_MARKS[event.kind.value]
            found[(event.on.year, event.on.month)].append(
                Mark(event.kind.value, symbol, event.on, event.words)
            )
    for (year, month, course), given in doses.items():
        days = ", ".join(f"{e.on:%d %b %Y}" for e in given)
        words = f"{given[0].name}: course {course}, doses {days}"
        mark = Mark(EventKind.INFUSION.value, f"C{course}", given[0].on, words)
        found[(year, month)].append(mark)
    for month_marks in found.values():
        month_marks.sort(key=lambda mark: mark.on)
    return found


def _mark_row(
    year: int, first: date, last: date, today: date, marks: dict[tuple[int, int], list[Mark]]
) -> tuple[MarkCell, ...]:
    return tuple(
        MarkCell(
            month,
            _in_range(year, month, first, last),
            (year, month) == (today.year, today.month),
            tuple(marks.get((year, month), ())),
        )
        for month in range(1, 13)
    )


def _in_range(year: int, month: int, first: date, last: date) -> bool:
    return (first.year, first.month) <= (year, month) <= (last.year, last.month)


def _row(
    panel: str,
    year: int,
    first: date,
    last: date,
    today: date,
    by_cell: dict[tuple[str, int, int], list[SlotView]],
) -> Row:
    cells = []
    for month in range(1, 13):
        cells.append(
            Cell(
                month=month,
                in_range=_in_range(year, month, first, last),
                is_now=(year, month) == (today.year, today.month),
                slots=tuple(by_cell.get((panel, year, month), ())),
            )
        )
    return Row(panel, tuple(cells))
