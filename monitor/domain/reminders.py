"""Which patient reminders a daily run for date D must send (SPEC §5), as a pure function.

The run decides from the state as of D, so a run after downtime catches up without a storm:

* a **due** reminder goes out on any run with D between `due_on - days_before_due` and `due_on`
  while the slot is not done (upcoming or due);
* an **overdue** step s goes out on any run with D >= `window_end + s` while the slot is still
  overdue; when several steps are reached at once only the highest is sent and the lower ones
  are recorded as skipped ("superseded by the 7-day overdue reminder");
* a due reminder that no run could send before the due date passed (downtime, a slot added late,
  reminders on hold) is recorded as skipped on the first run that sees the slot after it, so the
  outbox shows every decision (issue 10 item 10).

Each (message, slot, step) is decided at most once, ever: `already` holds what earlier runs
decided, so running the same D twice decides nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.domain.status import SlotStatus

# The two messages these rules choose between; registered (audience, builders, dedupe key) in
# `notify.registry`, which is where every other list of message names comes from.
TESTS_DUE = "patient-tests-due"
TESTS_OVERDUE = "patient-tests-overdue"

NoticeKey = tuple[str, str, str, date, int]  # (message, protocol, panel, due_on, step)


@dataclass(frozen=True)
class SlotState:
    """One slot as of D, as the reminder rules see it."""

    panel: str
    due_on: date
    window_end: date
    status: SlotStatus
    protocol: str = "alemtuzumab"


DUE_DATE_PASSED = "the due date passed before a daily cycle could send it"
SUPERSEDED = "superseded by the {step}-day overdue reminder"


@dataclass(frozen=True)
class Decision:
    """Remind the patient about one slot (`send`), or record it as skipped and why (`reason`)."""

    message: str
    panel: str
    due_on: date
    step: int
    send: bool
    reason: str | None = None
    protocol: str = "alemtuzumab"

    @property
    def key(self) -> NoticeKey:
        return (self.message, self.protocol, self.panel, self.due_on, self.step)


def decide_reminders(
    slots: Iterable[SlotState],
    *,
    on: date,
    days_before_due: int,
    overdue_days: Sequence[int],
    already: set[NoticeKey],
) -> list[Decision]:
    """Everything this run must send or skip for one patient's slots."""
    decisions: list[Decision] = []
    for slot in slots:
        if slot.status in (SlotStatus.UPCOMING, SlotStatus.DUE, SlotStatus.OVERDUE):
            decisions.extend(_due_reminder(slot, on, days_before_due, already))
        if slot.status is SlotStatus.OVERDUE:
            decisions.extend(_overdue_steps(slot, on, overdue_days, already))
    return decisions


def _due_reminder(
    slot: SlotState, on: date, days_before_due: int, already: set[NoticeKey]
) -> list[Decision]:
    if on < slot.due_on - timedelta(days=days_before_due):
        return []
    if on <= slot.due_on:
        decision = Decision(TESTS_DUE, slot.panel, slot.due_on, 0, True, None, slot.protocol)
    else:
        decision = Decision(
            TESTS_DUE, slot.panel, slot.due_on, 0, False, DUE_DATE_PASSED, slot.protocol
        )
    return [] if decision.key in already else [decision]


def _overdue_steps(
    slot: SlotState, on: date, overdue_days: Sequence[int], already: set[NoticeKey]
) -> list[Decision]:
    reached = sorted(s for s in set(overdue_days) if on >= slot.window_end + timedelta(days=s))
    if not reached or _overdue_key(slot, reached[-1]) in already:
        return []
    superseded = SUPERSEDED.format(step=reached[-1])
    decisions = [
        Decision(TESTS_OVERDUE, slot.panel, slot.due_on, step, False, superseded, slot.protocol)
        for step in reached[:-1]
        if _overdue_key(slot, step) not in already
    ]
    last = reached[-1]
    decisions.append(
        Decision(TESTS_OVERDUE, slot.panel, slot.due_on, last, True, None, slot.protocol)
    )
    return decisions


def _overdue_key(slot: SlotState, step: int) -> NoticeKey:
    return (TESTS_OVERDUE, slot.protocol, slot.panel, slot.due_on, step)


SUPERSEDED_PREFIX = SUPERSEDED.partition("{")[0]  # every step's superseded reason starts so


def is_timing_skip(reason: str | None) -> bool:
    """A skip these rules chose (a step superseded, a due date passed), as opposed to a patient
    who cannot be emailed: the patient is still reminded by another message. (The same rule in
    SQL, for a week of a large clinic's skips: `services.mail.unreachable.timing_skip`.)"""
    if reason is None:
        return False
    return reason == DUE_DATE_PASSED or reason.startswith(SUPERSEDED_PREFIX)


def first_name(name: str) -> str:
    """The first word of a patient's name (SPEC §9)."""
    words = name.split()
    return words[0] if words else ""
