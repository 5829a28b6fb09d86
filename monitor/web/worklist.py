"""The Today page's data: overdue and due-this-week lists, kept warm between requests.

The overdue list of a large clinic is an expensive query (BENCHMARKS.md: seconds for 10,000
patients, because "overdue on D" is an interval test no B-tree answers quickly). The page asks
for it on every visit, but it only changes when a result, waiver, course, patient or audited
change is stored. So the lists are computed once per clinic date and kept until a cheap stamp
(the highest id of each of those tables) moves, or at most `TTL_SECONDS`. The worklist's own
changes are all audited, so a nurse always sees her change at once; changes by other processes
(imports, the daemon) show within one stamp check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.domain.protocol import Protocol
from monitor.store.models import AuditEntry, Course, Patient, Result, Slot, Waiver
from monitor.store.queries import active_on, overdue_list

TTL_SECONDS = 300
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


def data_stamp(session: Session) -> tuple[int, ...]:
    """The highest id of every table whose new rows can change the lists (all indexed)."""
    tables = (Result.id, Waiver.id, Course.id, Patient.id, AuditEntry.id)
    row = session.execute(select(*(select(func.max(c)).scalar_subquery() for c in tables))).one()
    return tuple(value or 0 for value in row)


class WorklistCache:
    """One Snapshot, recomputed when the date or the stamp changes (one computation at a time)."""

    def __init__(self, ttl_seconds: float = TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self, session: Session, on: date, protocol: Protocol) -> Snapshot:
        stamp = data_stamp(session)
        with self._lock:
            snap = self._snapshot
            fresh = snap is not None and time.monotonic() - snap.taken_at < self._ttl
            if snap is None or not fresh or snap.on != on or snap.stamp != stamp:
                snap = take_snapshot(session, on, protocol, stamp)
                self._snapshot = snap
            return snap

    def clear(self) -> None:
        with self._lock:
            self._snapshot = None


def take_snapshot(
    session: Session, on: date, protocol: Protocol, stamp: tuple[int, ...]
) -> Snapshot:
    sites = session.scalars(select(Patient.site).distinct().order_by(Patient.site)).all()
    return Snapshot(
        on=on,
        stamp=stamp,
        taken_at=time.monotonic(),
        overdue=group(
            (r.patient_id, r.mrn, r.site, Item(r.panel, r.due_on, r.days_overdue, r.missed))
            for r in overdue_list(session, on, protocol.panel_names)
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
        .order_by(Slot.due_on, Patient.mrn)
    )
    rows = session.execute(query)
    return group(
        (pid, mrn, site, Item(panel, due, (on - due).days)) for pid, mrn, site, panel, due in rows
    )


def group(rows: Iterable[tuple[int, str, str, Item]]) -> list[Line]:
    """Items by patient, in first-seen order; overdue lines then most overdue first."""
    found: dict[int, tuple[str, str, list[Item]]] = {}
    for pid, mrn, site, item in rows:
        found.setdefault(pid, (mrn, site, []))[2].append(item)
    lines = [Line(pid, mrn, site, tuple(items)) for pid, (mrn, site, items) in found.items()]
    if lines and lines[0].items[0].days_overdue > 0:
        lines.sort(key=lambda line: (-line.worst, line.mrn))
    return lines


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
