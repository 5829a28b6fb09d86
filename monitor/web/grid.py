"""The patient's schedule as a month-by-panel grid, one block per calendar year.

From the month of course 1's first slot to the month monitoring ends, every slot sits in the
cell of its panel and due month, coloured by its status as of today. A panel with two slots in
one month (a baseline beside a monthly slot) shows both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from monitor.services.schedule.view import SlotView

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
class YearBlock:
    year: int
    rows: tuple[Row, ...]


def schedule_grid(
    slots: Sequence[SlotView], panels: Sequence[str], end: date | None, today: date
) -> list[YearBlock]:
    """Year blocks from the first slot's month to the monitoring end (or the last slot)."""
    if not slots:
        return []
    first = min(slot.due_on for slot in slots)
    last = max([end] if end is not None else [slot.due_on for slot in slots])
    by_cell: dict[tuple[str, int, int], list[SlotView]] = defaultdict(list)
    for slot in slots:
        by_cell[(slot.panel, slot.due_on.year, slot.due_on.month)].append(slot)
    shown = [p for p in panels if any(slot.panel == p for slot in slots)]
    return [
        YearBlock(year, tuple(_row(panel, year, first, last, today, by_cell) for panel in shown))
        for year in range(first.year, last.year + 1)
    ]


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
        key = (year, month)
        cells.append(
            Cell(
                month=month,
                in_range=(first.year, first.month) <= key <= (last.year, last.month),
                is_now=key == (today.year, today.month),
                slots=tuple(by_cell.get((panel, year, month), ())),
            )
        )
    return Row(panel, tuple(cells))
