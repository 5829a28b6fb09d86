"""Which results count for which slot, and a slot's status as of a date D (SPEC §3.2).

Matching is done once per change of a patient's courses or results and gives, for each slot, the
date it became `done` (every required analyte on time) and the date it became done-or-late. Those
two dates, with the next slot's window start, are all the overdue list needs: the status as of any
D follows from them without looking at the results again, which is what lets the database answer
"who is overdue on D" with one indexed query (see `store.queries`).
"""

from __future__ import annotations

import typing
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from monitor.domain.catalogue import Catalogue
from monitor.domain.schedule import PlannedSlot, SlotKind


class SlotStatus(StrEnum):
    WAIVED = "waived"
    CANCELLED = "cancelled"
    DONE = "done"
    LATE = "late"
    UPCOMING = "upcoming"
    DUE = "due"
    MISSED = "missed"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class CountedResult:
    """A stored result that may complete slots: its analyte and collection date."""

    analyte: str
    collected_on: date


@dataclass(frozen=True)
class SlotProgress:
    """A slot with what the results did for it.

    `on_time` and `counted` map each required analyte to its earliest on-time result date and
    its earliest on-time-or-late result date.
    """

    slot: PlannedSlot
    required: tuple[str, ...]
    next_window_start: date | None
    on_time: dict[str, date]
    counted: dict[str, date]

    @property
    def done_on(self) -> date | None:
        """The day the last required analyte arrived on time, or None."""
        return _all_in(self.required, self.on_time)

    @property
    def completed_on(self) -> date | None:
        """The day the last required analyte arrived on time or late, or None."""
        return _all_in(self.required, self.counted)

    def missing_on(self, on: date) -> list[str]:
        """Required analytes with no on-time result collected on or before `on`."""
        return [a for a in self.required if a not in self.on_time or self.on_time[a] > on]


def _all_in(required: tuple[str, ...], found: dict[str, date]) -> date | None:
    """The latest date of `required` in `found`, or None if one is missing.

    A plain loop: it runs twice per slot on a full rebuild, and any()/max() over generators cost
    several times more (BENCHMARKS.md)."""
    latest = None
    for analyte in required:
        found_on = found.get(analyte)
        if found_on is None:
            return None
        if latest is None or found_on > latest:
            latest = found_on
    return latest


def match_results(
    slots: Sequence[PlannedSlot], results: Iterable[CountedResult], catalogue: Catalogue
) -> list[SlotProgress]:
    """Match results to slots (SPEC §3.2), series by series (SPEC §10.2): on time inside the
    window; late after it and before the series' next window opens (no limit for its last slot).
    One result can count for slots of several series."""
    dates_by_analyte: dict[str, list[date]] = defaultdict(list)
    for result in results:
        dates_by_analyte[result.analyte].append(result.collected_on)
    for dates in dates_by_analyte.values():
        dates.sort()
    progress = []
    for panel_slots in _by_series(slots).values():
        head = panel_slots[0]
        required = catalogue.panel(head.protocol, head.panel).analytes
        dates_of = [(analyte, dates_by_analyte.get(analyte, [])) for analyte in required]
        next_starts = [s.window_start for s in panel_slots[1:]] + [None]
        for slot, next_start in zip(panel_slots, next_starts, strict=True):
            start, end = slot.window_start, slot.window_end
            on_time: dict[str, date] = {}
            counted: dict[str, date] = {}
            for analyte, dates in dates_of:
                index = bisect_left(dates, start)  # the first result on or after window_start
                if index == len(dates):
                    continue
                first = dates[index]
                if first <= end:
                    on_time[analyte] = counted[analyte] = first
                elif counts_late(first, next_start):
                    counted[analyte] = first
            progress.append(SlotProgress(slot, required, next_start, on_time, counted))
    return progress


def counts_late(first: date, next_window_start: date | None) -> bool:
    """Whether a slot's first result after its window still counts (late): before the series'
    next window opens, or at any time for its last slot."""
    return next_window_start is None or first < next_window_start


def can_count(
    day: date, window_start: date, window_end: date, next_window_start: date | None
) -> bool:
    """Whether a result collected on `day` can count for the slot (on time or late) if it is
    the first on or after the window's start: the only slots a new or removed result can
    change (`domain.rematch`)."""
    return window_start <= day and (day <= window_end or counts_late(day, next_window_start))


SeriesKey = tuple[str, int, str, date | None]


def _by_series(slots: Iterable[PlannedSlot]) -> dict[SeriesKey, list[PlannedSlot]]:
    """Slots by (protocol, treatment, panel); a repeat slot is a series of its own (its due
    date in the key), so it moves no regular slot's next window and none moves its own."""
    grouped: dict[SeriesKey, list[PlannedSlot]] = defaultdict(list)
    for slot in slots:
        alone = slot.due_on if slot.kind is SlotKind.REPEAT else None
        grouped[slot.protocol, slot.treatment, slot.panel, alone].append(slot)
    for panel_slots in grouped.values():
        panel_slots.sort(key=lambda s: s.due_on)
    return grouped


def slot_status(
    *,
    on: date,
    window_start: date,
    window_end: date,
    next_window_start: date | None,
    done_on: date | None,
    completed_on: date | None,
    is_waived: bool = False,
    is_cancelled: bool = False,
) -> SlotStatus:
    """The status of one slot as of `on`: the first rule of SPEC §3.2 that applies."""
    if is_waived:
        return SlotStatus.WAIVED
    if is_cancelled:
        return SlotStatus.CANCELLED
    if done_on is not None and done_on <= on:
        return SlotStatus.DONE
    if completed_on is not None and completed_on <= on:
        return SlotStatus.LATE
    if on < window_start:
        return SlotStatus.UPCOMING
    if on <= window_end:
        return SlotStatus.DUE
    if next_window_start is not None and on >= next_window_start:
        return SlotStatus.MISSED
    return SlotStatus.OVERDUE


class StoredSlot(typing.Protocol):
    """What a stored slot keeps of its matching: exactly `slot_status`'s arguments (a row of the
    slots table, or a selected row of those columns)."""

    @property
    def window_start(self) -> date: ...
    @property
    def window_end(self) -> date: ...
    @property
    def next_window_start(self) -> date | None: ...
    @property
    def done_on(self) -> date | None: ...
    @property
    def completed_on(self) -> date | None: ...
    @property
    def is_waived(self) -> bool: ...
    @property
    def is_cancelled(self) -> bool: ...


def stored_status(slot: StoredSlot, on: date) -> SlotStatus:
    """The status of a stored slot as of `on` (`slot_status` of its columns)."""
    return slot_status(
        on=on,
        window_start=slot.window_start,
        window_end=slot.window_end,
        next_window_start=slot.next_window_start,
        done_on=slot.done_on,
        completed_on=slot.completed_on,
        is_waived=slot.is_waived,
        is_cancelled=slot.is_cancelled,
    )


def is_cancelled_by_stop(due_on: date, stopped_on: date | None) -> bool:
    """A stop cancels every slot due on or after the day it took effect (SPEC §9)."""
    return stopped_on is not None and stopped_on <= due_on
