"""The Today page's lists: overdue and due this week, by patient, for all sites at once.

Computed whole by `take_snapshot` (the overdue list query plus one range query) and kept
between requests by `web.cache`; a page then filters and pages them in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

from monitor.domain.protocol import Protocol
from monitor.store.models import Patient, Slot
from monitor.store.queries import active_on, overdue_list

WEEK_DAYS = 7
SEVERITY_ORDER = {"emergency": 0, "urgent": 1}


@dataclass(frozen=True)
class Item:
    """One slot on a patient's line: overdue (days > 0) or due this week (days <= 0)."""

    panel: str
    due_on: date
    days_overdue: int
    missed: int = 0


@dataclass(frozen=True)
class Line:
    """One patient on a list, with the slots that put them there (shared between requests, so
    never changed: `replace` makes the copy a page shows)."""

    patient_id: int
    mrn: str
    site: str
    items: tuple[Item, ...]
    name: str = ""
    alert: str | None = None

    @property
    def worst(self) -> int:
        return max(item.days_overdue for item in self.items)

    @property
    def first_due(self) -> date:
        return min(item.due_on for item in self.items)


@dataclass(frozen=True)
class Snapshot:
    """Everything the Today page lists for one clinic date, all sites."""

    on: date
    stamp: tuple[int, ...]
    taken_at: float
    overdue: list[Line]
    week: list[Line]
    sites: list[str]


def take_snapshot(
    session: Session, on: date, protocol: Protocol, stamp: tuple[int, ...]
) -> Snapshot:
    sites = session.scalars(select(Patient.site).distinct().order_by(Patient.site)).all()
    return Snapshot(
        on=on,
        stamp=stamp,
        taken_at=time.monotonic(),
        overdue=sorted(
            group(
                (r.patient_id, r.mrn, r.site, Item(r.panel, r.due_on, r.days_overdue, r.missed))
                for r in overdue_list(session, on, protocol.panel_names)
            ),
            key=overdue_order,
        ),
        week=due_this_week(session, on, protocol),
        sites=list(sites),
    )


def due_this_week(session: Session, on: date, protocol: Protocol) -> list[Line]:
    """Slots due from `on` to six days later that are not done yet, by patient.

    `window_end` is bounded too (a slot's window ends at most the longest `window_after_days`
    after its due date), so the query is a range scan of the window-end index, not of the table.
    """
    last = on + timedelta(days=WEEK_DAYS - 1)
    longest_after = max(panel.window_after_days for panel in protocol.panels)
    panel_rank = case(
        {name: rank for rank, name in enumerate(protocol.panel_names)}, value=Slot.panel
    )
    query = (
        select(Patient.id, Patient.mrn, Patient.site, Slot.panel, Slot.due_on)
        .join(Patient, Patient.id == Slot.patient_id)
        .where(
            Slot.window_end >= on,
            Slot.window_end <= last + timedelta(days=longest_after),
            Slot.due_on >= on,
            Slot.due_on <= last,
            Slot.is_waived.is_(False),
            Slot.is_cancelled.is_(False),
            or_(Slot.completed_on.is_(None), Slot.completed_on > on),
            active_on(on),
        )
        .order_by(Slot.due_on, Patient.mrn, panel_rank)
    )
    rows = session.execute(query)
    return group(
        (pid, mrn, site, Item(panel, due, (on - due).days)) for pid, mrn, site, panel, due in rows
    )


def group(rows: Iterable[tuple[int, str, str, Item]]) -> list[Line]:
    """Items by patient, in first-seen order."""
    found: dict[int, tuple[str, str, list[Item]]] = {}
    for pid, mrn, site, item in rows:
        found.setdefault(pid, (mrn, site, []))[2].append(item)
    return [Line(pid, mrn, site, tuple(items)) for pid, (mrn, site, items) in found.items()]


def overdue_order(line: Line) -> tuple[int, str]:
    """Most overdue first, then by MRN."""
    return (-line.worst, line.mrn)


def week_order(line: Line) -> tuple[date, str]:
    """Soonest due first, then by MRN (the order of the week query)."""
    return (line.first_due, line.mrn)


def flagged_first(lines: Sequence[Line], alerts: dict[int, str]) -> list[Line]:
    """Patients with an open urgent or emergency flag first (emergency before urgent), the rest
    in their order."""
    flagged = [line for line in lines if line.patient_id in alerts]
    flagged.sort(key=lambda line: SEVERITY_ORDER[alerts[line.patient_id]])
    return flagged + [line for line in lines if line.patient_id not in alerts]


def keep(lines: Iterable[Line], site: str | None, panel: str | None) -> list[Line]:
    """Lines of one site and/or one panel (a line keeps only that panel's items)."""
    kept = []
    for line in lines:
        if site is not None and line.site != site:
            continue
        if panel is not None:
            items = [item for item in line.items if item.panel == panel]
            if not items:
                continue
            line = replace(line, items=tuple(items))
        kept.append(line)
    return kept


def for_display(session: Session, lines: Sequence[Line], alerts: dict[int, str]) -> list[Line]:
    """Copies of the lines about to be shown, with names and open-flag badges (one page)."""
    ids = [line.patient_id for line in lines]
    if not ids:
        return []
    names = dict(session.execute(select(Patient.id, Patient.name).where(Patient.id.in_(ids))).all())
    return [
        replace(line, name=names.get(line.patient_id, ""), alert=alerts.get(line.patient_id))
        for line in lines
    ]
