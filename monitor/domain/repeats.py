"""Repeat slots: a result whose flag asks for its analyte again (issue 14 item 6) becomes a slot
of kind `repeat` for that analyte's panel, chased like any other.

Pure: the caller passes each live request (a flag that is not superseded, with its
`repeat_due_on`), and the patient's treatments; the full rebuild stays the reference (SPEC §3.1:
the same inputs always give the same slots).

Policy, stated once (docs/decisions.md, "Results that ask for a repeat"):

* **Which series.** The first panel (protocol order) holding the analyte, of the first treatment
  (treatment order) being monitored on the sample's date; when none is, of the latest treatment
  with such a panel. A panel limited to the other sex is never chosen. No panel: no slot.
* **Window.** From the day after the sample (the sample itself cannot be its own repeat) to the
  due date; a slot of its own series, so it changes no other slot's status and, like a series'
  last slot, a result after the window completes it late.
* **Several requests** for one series and one due date (a low count and a fall, from one
  sample) are one slot, opening the day after the latest sample.
* **A due date already taken** by another slot of the panel (the store keeps one slot per
  patient, protocol, panel and day) moves the repeat a day earlier, and again, while it stays
  after the sample; with no free day left it is dropped: the panel's own slots are due on every
  day of its window already.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.domain.catalogue import Catalogue
from monitor.domain.phases import Kind, ProtocolPlan
from monitor.domain.schedule import PlannedSlot, SlotKind
from monitor.domain.treatments import Treatment, is_monitored_on, order_treatments

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class RepeatRequest:
    """A flag's ask: measure `analyte` again after `asked_on` (the sample's date), by `due_on`."""

    analyte: str
    asked_on: date
    due_on: date


SeriesKey = tuple[str, int, str]  # (protocol, treatment number, panel)


def repeat_slots(
    requests: Iterable[RepeatRequest],
    treatments: Sequence[Treatment],
    catalogue: Catalogue,
    *,
    sex: str | None,
    planned: Iterable[PlannedSlot],
) -> list[PlannedSlot]:
    """One `repeat` slot per series and due date asked for, clear of the days `planned` (the
    patient's other slots) already take."""
    ordered = order_treatments(treatments)
    asked: dict[tuple[SeriesKey, date], date] = {}
    for request in requests:
        if request.due_on <= request.asked_on:
            continue  # asks for nothing (a repeat is due after its sample)
        series = _series_for(request, ordered, catalogue, sex)
        if series is not None:
            key = (series, request.due_on)
            asked[key] = max(asked.get(key, request.asked_on), request.asked_on)
    taken = {(s.protocol, s.panel, s.due_on) for s in planned}
    slots = []
    for (series, due_on), asked_on in sorted(asked.items()):
        protocol, number, panel = series
        day = due_on
        while (protocol, panel, day) in taken and day - ONE_DAY > asked_on:
            day -= ONE_DAY
        if (protocol, panel, day) in taken:
            continue  # every day of the window is a slot of the panel already
        taken.add((protocol, panel, day))
        opens = asked_on + ONE_DAY
        slots.append(PlannedSlot(panel, day, opens, day, None, SlotKind.REPEAT, protocol, number))
    return slots


def _series_for(
    request: RepeatRequest, ordered: Sequence[Treatment], catalogue: Catalogue, sex: str | None
) -> SeriesKey | None:
    """The series a request goes to: see the module's policy."""
    candidates: list[tuple[SeriesKey, bool]] = []
    for number, treatment in enumerate(ordered, start=1):
        plan = catalogue.plan(treatment.protocol)
        if plan.kind is Kind.COURSES and not treatment.courses:
            continue
        panel = _panel_with(plan, request.analyte, sex)
        if panel is not None:
            active = is_monitored_on(treatment, plan, request.asked_on)
            candidates.append(((plan.id, number, panel), active))
    for series, active in candidates:
        if active:
            return series
    return candidates[-1][0] if candidates else None


def _panel_with(plan: ProtocolPlan, analyte: str, sex: str | None) -> str | None:
    for panel in plan.panels:
        if analyte in panel.analytes and panel.sex in (None, sex):
            return panel.name
    return None
