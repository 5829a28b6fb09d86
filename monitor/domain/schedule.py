"""The monitoring schedule's shared pieces: a planned slot, and adding months (SPEC §3.1).

The schedule itself is `domain.treatments.build_slots` (every protocol, SPEC §10); the policy
below is alemtuzumab's, which that function keeps exactly (a property test holds it against the
engine this module used to hold, kept as `tests/reference_schedule.py`).

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
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class SlotKind(StrEnum):
    BASELINE = "baseline"
    RECURRING = "recurring"
    REPEAT = "repeat"  # asked for by a flag (`domain.repeats`)


@dataclass(frozen=True)
class PlannedSlot:
    """One due occurrence of a panel, before any result is matched to it. A series is one
    (protocol, treatment, panel); `course` is the course number within its treatment (None for a
    continuous treatment) and `treatment` the treatment's number for the patient (SPEC §10.4)."""

    panel: str
    due_on: date
    window_start: date
    window_end: date
    course: int | None
    kind: SlotKind
    protocol: str = "alemtuzumab"
    treatment: int = 1


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
