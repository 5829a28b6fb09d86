"""Re-matching only the stored slots a result can change (issue 15 item 2).

`domain.status.match_results` is not greedy across a series: each slot takes, per required
analyte, the first result on or after its own window's start, on time inside the window and late
before the series' next window opens (any time for the last slot). No slot's match depends on
another's, and `next_window_start` depends on the plan alone. So a result of analyte A collected
on day d, added or taken away, can change only the slots that require A and for which d
`can_count` (window_start <= d, and d <= window_end or d before the next window), and each of
those becomes what its own window's first results say. Every other slot, and every slot's
window and next window, stay as the full rebuild made them: re-matching these slots from the
patient's results gives exactly the full rebuild's rows (the property test in
tests/services/test_incremental_slots.py holds it to that).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from monitor.domain.status import CountedResult, can_count, counts_late


@dataclass(frozen=True)
class MatchedSlot:
    """A stored slot's id and what its matching needs and gave."""

    id: int
    protocol: str
    panel: str
    window_start: date
    window_end: date
    next_window_start: date | None
    done_on: date | None
    completed_on: date | None


@dataclass(frozen=True)
class Rematched:
    """A slot whose done or completed date the results now move."""

    id: int
    done_on: date | None
    completed_on: date | None


Required = Callable[[str, str], tuple[str, ...]]  # (protocol, panel) -> the panel's analytes


def touched_slots(
    slots: Iterable[MatchedSlot], required: Required, changes: Iterable[CountedResult]
) -> list[MatchedSlot]:
    """The slots whose match a result added or removed on (analyte, day) can change."""
    changes = list(changes)
    return [
        slot
        for slot in slots
        if any(
            change.analyte in required(slot.protocol, slot.panel)
            and can_count(
                change.collected_on, slot.window_start, slot.window_end, slot.next_window_start
            )
            for change in changes
        )
    ]


def rematch(
    slots: Iterable[MatchedSlot], required: Required, results: Iterable[CountedResult]
) -> list[Rematched]:
    """The slots whose dates change, matched again from `results`: every counting result of
    their analytes collected on or after the earliest of their windows' starts (earlier ones
    are ignored, so the caller may read only those)."""
    dates_by_analyte: dict[str, list[date]] = defaultdict(list)
    for result in results:
        dates_by_analyte[result.analyte].append(result.collected_on)
    for dates in dates_by_analyte.values():
        dates.sort()
    changed = []
    for slot in slots:
        done_on, completed_on = _match_one(
            slot, required(slot.protocol, slot.panel), dates_by_analyte
        )
        if (done_on, completed_on) != (slot.done_on, slot.completed_on):
            changed.append(Rematched(slot.id, done_on, completed_on))
    return changed


def _match_one(
    slot: MatchedSlot, required: Sequence[str], dates_by_analyte: dict[str, list[date]]
) -> tuple[date | None, date | None]:
    """(done_on, completed_on) of one slot, by `match_results`' rule: the latest of the required
    analytes' first dates, on time and on time or late (None when one is missing)."""
    done_on: date | None = slot.window_start  # replaced below; None once an analyte is missing
    completed_on: date | None = slot.window_start
    for analyte in required:
        dates = dates_by_analyte.get(analyte, [])
        index = bisect_left(dates, slot.window_start)
        first = dates[index] if index < len(dates) else None
        on_time = first is not None and first <= slot.window_end
        counted = on_time or (first is not None and counts_late(first, slot.next_window_start))
        done_on = _later(done_on, first if on_time else None)
        completed_on = _later(completed_on, first if counted else None)
    if not required:
        return None, None
    return done_on, completed_on


def _later(so_far: date | None, found: date | None) -> date | None:
    """The running latest date, or None for good once one analyte has none."""
    if so_far is None or found is None:
        return None
    return max(so_far, found)
