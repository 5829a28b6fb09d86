"""The monitoring schedule: a pure function of the infusion dates and the protocol (SPEC §3.1).

Policy, stated once:

* **Month ends.** The k-th recurring due date of course c is always `L_c + relativedelta(months =
  k*m)`, counted from the anchor `L_c` (the course's last infusion), never stepped from the previous
  due date. dateutil clamps a missing day to the month's last day, so an anchor of 31 January gives
  28/29 February, then 31 March; an anchor of 29 February gives 29 March and, a year on,
  28 February.
* **Retreatment.** A new course c+1 ends course c's recurring slots: only those with `due_on <
  F_(c+1)` are kept. Course c+1 opens with its own baseline slots (due on its first infusion, window
  `baseline_window_days` before it) and restarts the monthly clock from its own last infusion.
* **Monitoring end** is `L_n + relativedelta(months = monitoring_months)` for the last course n; a
  recurring slot is kept while `due_on <= L_c + monitoring_months`.

Recomputing from the same input always gives the same slots, so a corrected course simply means
"build again and re-match the results" (SPEC §3.1).
"""

from __future__ import annotations

from calendar import isleap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from monitor.domain.courses import Course
from monitor.domain.protocol import PanelRule, Protocol


class SlotKind(StrEnum):
    BASELINE = "baseline"
    RECURRING = "recurring"


@dataclass(frozen=True)
class PlannedSlot:
    """One due occurrence of a panel, before any result is matched to it."""

    panel: str
    due_on: date
    window_start: date
    window_end: date
    course: int
    kind: SlotKind


def monitoring_end(courses: Sequence[Course], protocol: Protocol) -> date | None:
    """48 months (by default) after the last infusion of the last course; None with no course."""
    if not courses:
        return None
    last = max(course.last_on for course in courses)
    return add_months(last, protocol.monitoring_months)


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(day: date, months: int) -> date:
    """`day + relativedelta(months=months)`, without building a relativedelta.

    The same rule as dateutil: move the month (carrying into the year), then clamp the day to the
    last day of the month reached (31 January + 1 month = 28/29 February). Building and applying a
    relativedelta costs several microseconds, and a schedule needs one per slot, which dominated
    a full rebuild (see BENCHMARKS.md); the property tests compare this with dateutil.
    """
    years, month_index = divmod(day.month - 1 + months, 12)
    year = day.year + years
    last = 29 if month_index == 1 and isleap(year) else _DAYS_IN_MONTH[month_index]
    return day.replace(year=year, month=month_index + 1, day=min(day.day, last))


def build_schedule(courses: Sequence[Course], protocol: Protocol) -> list[PlannedSlot]:
    """Every slot of every panel, ordered by panel (protocol order) then due date.

    `courses` must already be valid and in date order (see `courses.order_courses`).
    """
    slots: list[PlannedSlot] = []
    for rule in protocol.panels:
        for index, course in enumerate(courses):
            following = courses[index + 1] if index + 1 < len(courses) else None
            if rule.baseline:
                slots.append(_baseline_slot(rule, course, index + 1, protocol))
            slots.extend(_recurring_slots(rule, course, index + 1, following, protocol))
    return slots


def _baseline_slot(rule: PanelRule, course: Course, number: int, protocol: Protocol) -> PlannedSlot:
    start = course.first_on - timedelta(days=protocol.baseline_window_days)
    return PlannedSlot(
        rule.name, course.first_on, start, course.first_on, number, SlotKind.BASELINE
    )


def _recurring_slots(
    rule: PanelRule,
    course: Course,
    number: int,
    following: Course | None,
    protocol: Protocol,
) -> list[PlannedSlot]:
    anchor = course.last_on
    last_due = add_months(anchor, protocol.monitoring_months)
    if following is not None:
        last_due = min(last_due, following.first_on - timedelta(days=1))  # due_on < F_(c+1)
    before = timedelta(days=rule.window_before_days)
    after = timedelta(days=rule.window_after_days)
    name, step = rule.name, rule.every_months
    slots = []
    months = step
    due_on = add_months(anchor, months)
    while due_on <= last_due:
        slots.append(
            PlannedSlot(name, due_on, due_on - before, due_on + after, number, SlotKind.RECURRING)
        )
        months += step
        due_on = add_months(anchor, months)
    return slots
