"""SPEC §3.2's slot statuses as SQL conditions: the one spelling every slot query uses.

`domain.status.slot_status` decides a slot's status as of a date D in Python, from the slot's
stored dates (`window_start`, `window_end`, `next_window_start`, `done_on`, `completed_on`) and
flags (`is_waived`, `is_cancelled`). The overdue list, the Today page's week list and the daily
cycle's reminders must pick rows in SQL instead (loading every slot to ask Python would cost
seconds), so this module writes the same rules as conditions on a `Slot` entity or alias. Each
function is held against `slot_status` over generated schedules on SQLite and PostgreSQL
(tests/store/test_slot_predicates.py), so the two cannot drift apart.

How they map to `slot_status(on=D)` (whose rules are tried in order, "first that applies");
each condition takes the `Slot` entity or an `aliased(Slot)`:

- `is_open(s)`: neither `waived` nor `cancelled` (rules 1-2 do not apply).
- `waived(s)`: `waived` (rule 1); `cancelled(s)`: `cancelled` (rule 2).
- `done_by(s, D)`: `done` (rule 3); `late_by(s, D)`: `late` (rule 4).
- `not_completed_by(s, D)`, for an open slot: neither `done` nor `late` (rules 3-4 do not
  apply; `completed_on <= done_on`, so "completed by D" covers both).
- `pending_on(s, D)`: `upcoming` or `due`.
- `due_between(s, D, L)`: `upcoming` or `due` as of D, with `due_on` from D to L.
- `missed_on(s, D)`: `missed`.
- `overdue_on(s, D)`: `overdue`; `overdue_halves(s, D)`: the same, as two disjoint conditions.

`active_on(D)` is about the patient, not the slot: SPEC §3.3 lists only active patients, and a
patient is active on D when a slot due on D would not be cancelled by their stop
(`domain.status.is_cancelled_by_stop`).

The pieces (`past_window`, `next_window_open`, `never_completed`, `completed_after`) exist so
that the composed conditions and the overdue list's indexed halves are spelled from the same
parts: the list splits "not completed by D" into "never completed" (answered from the partial
covering index `ix_slots_open`, `completed_on IS NULL`) and "completed after D" (from
`ix_slots_completed_on`; only non-empty for a past D), because one `OR` of the two would let
neither index be used.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, and_, not_, or_

from monitor.domain.vocabulary import PatientStatus
from monitor.store.models import Patient, Slot


def active_on(on: date) -> ColumnElement[bool]:
    """Patients not stopped on or before `on` (SPEC §9's meaning of "active"; the stop's own
    day cancels, as `is_cancelled_by_stop` has it)."""
    return or_(
        Patient.status == PatientStatus.ACTIVE,
        Patient.status_on.is_(None),
        Patient.status_on > on,
    )


def is_open(slot: type[Slot]) -> ColumnElement[bool]:
    """Neither waived by a nurse nor cancelled by the patient's stop (rules 1-2)."""
    return and_(slot.is_waived.is_(False), slot.is_cancelled.is_(False))


def waived(slot: type[Slot]) -> ColumnElement[bool]:
    """`waived` (rule 1: a nurse's waiver wins over everything else)."""
    return slot.is_waived.is_(True)


def cancelled(slot: type[Slot]) -> ColumnElement[bool]:
    """`cancelled` (rule 2: the patient's stop cancelled it, and it was not waived)."""
    return and_(slot.is_waived.is_(False), slot.is_cancelled.is_(True))


def done_by(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """`done` as of `on` (rule 3): open, every analyte on time, the last by `on`."""
    return and_(slot.done_on <= on, is_open(slot))


def late_by(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """`late` as of `on` (rule 4): open, completed by `on`, but not done on time by `on`."""
    return and_(
        slot.completed_on <= on,
        or_(slot.done_on.is_(None), slot.done_on > on),
        is_open(slot),
    )


def never_completed(slot: type[Slot]) -> ColumnElement[bool]:
    """No result has completed the slot, on time or late, on any date."""
    return slot.completed_on.is_(None)


def completed_after(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """Completed, but only after `on` (so not yet as of `on`: a past D)."""
    return slot.completed_on > on


def not_completed_by(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """Neither `done` nor `late` as of `on` (rules 3-4), for an open slot."""
    return or_(never_completed(slot), completed_after(slot, on))


def past_window(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """The window ended before `on` (what rules 5-6, `upcoming` and `due`, need not to hold)."""
    return slot.window_end < on


def next_window_open(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """The panel's next slot has opened its window by `on` (rule 7, `missed`, rather than 8)."""
    return slot.next_window_start <= on


def pending_on(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """`upcoming` or `due` as of `on`: open, not completed, window not ended."""
    return and_(not_(past_window(slot, on)), not_completed_by(slot, on), is_open(slot))


def due_between(slot: type[Slot], first: date, last: date) -> ColumnElement[bool]:
    """Due from `first` to `last` (both included) and still to do as of `first`: the week list."""
    return and_(slot.due_on >= first, slot.due_on <= last, pending_on(slot, first))


def missed_on(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """`missed` as of `on`: past the window, not completed, the next window already open."""
    return and_(
        past_window(slot, on), next_window_open(slot, on), not_completed_by(slot, on), is_open(slot)
    )


def overdue_on(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """`overdue` as of `on`: past the window, not completed, the next window not yet open."""
    return and_(not_completed_by(slot, on), _overdue_unless_completed(slot, on))


def overdue_halves(slot: type[Slot], on: date) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """`overdue_on` as two disjoint conditions whose `OR` it is, each with its own index:
    never completed (`ix_slots_open`) and completed after `on` (`ix_slots_completed_on`)."""
    rest = _overdue_unless_completed(slot, on)
    return and_(never_completed(slot), rest), and_(completed_after(slot, on), rest)


def _overdue_unless_completed(slot: type[Slot], on: date) -> ColumnElement[bool]:
    """Every condition of `overdue` but completion (the columns `ix_slots_open` leads with)."""
    return and_(
        past_window(slot, on),
        or_(slot.next_window_start.is_(None), not_(next_window_open(slot, on))),
        is_open(slot),
    )
