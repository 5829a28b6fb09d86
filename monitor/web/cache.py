"""Keeping the Today page's lists warm: computed once, then patched per changed patient.

The overdue list of a large clinic is an expensive query (BENCHMARKS.md: seconds for 10,000
patients), but the Today page is asked for all day and the lists only change when a result,
waiver, course, patient or audited change is stored. Each of those adds a row with a higher id,
so the highest ids (the stamp: five primary-key lookups) say whether anything changed, and the
new rows say for which patients. Those patients' lines are recomputed by the very queries that
computed the whole lists, restricted to their ids (`services.schedule.worklist`), and spliced
in. The whole lists are recomputed on a new clinic date, after `FULL_EVERY_SECONDS` (for changes
that leave no such row, e.g. `monitor db rebuild`), or when very many patients changed at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.domain.protocol import Protocol
from monitor.services.schedule.worklist import (
    clinic_sites,
    overdue_lines,
    overdue_order,
    week_lines,
    week_order,
)
from monitor.store.models import AuditEntry, Course, Patient, Result, Waiver
from monitor.web.worklist import Snapshot, take_snapshot

FULL_EVERY_SECONDS = 300
MAX_PATCHED = 200

# (id column, patient column) of every table whose new rows can change the lists
SOURCES: tuple[tuple[Any, Any], ...] = (
    (Result.id, Result.patient_id),
    (Waiver.id, Waiver.patient_id),
    (Course.id, Course.patient_id),
    (Patient.id, Patient.id),
    (AuditEntry.id, AuditEntry.patient_id),
)


def data_stamp(session: Session) -> tuple[int, ...]:
    """The highest id of each source table."""
    maxima = (select(func.max(ids)).scalar_subquery() for ids, _ in SOURCES)
    return tuple(value or 0 for value in session.execute(select(*maxima)).one())


def changed_patients(session: Session, since: tuple[int, ...]) -> set[int]:
    """Patients with a row added to a source table after the stamp `since`."""
    changed: set[int] = set()
    for (ids, patient), last in zip(SOURCES, since, strict=True):
        # No DISTINCT: it lets SQLite pick a whole patient index over the primary-key range.
        changed.update(session.scalars(select(patient).where(ids > last)))
    changed.discard(None)  # type: ignore[arg-type,unused-ignore]  # audit rows about users
    return changed


class WorklistCache:
    """One Snapshot per process, shared by all requests (one refresh at a time)."""

    def __init__(self, full_every_seconds: float = FULL_EVERY_SECONDS) -> None:
        self._full_every = full_every_seconds
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self, session: Session, on: date, protocol: Protocol) -> Snapshot:
        stamp = data_stamp(session)
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.on != on or self._expired(snap):
                snap = take_snapshot(session, on, protocol, stamp)
            elif snap.stamp != stamp:
                snap = patched(session, snap, protocol, stamp)
            self._snapshot = snap
            return snap

    def _expired(self, snap: Snapshot) -> bool:
        return time.monotonic() - snap.taken_at >= self._full_every


def patched(
    session: Session, snap: Snapshot, protocol: Protocol, stamp: tuple[int, ...]
) -> Snapshot:
    """`snap` with the changed patients' lines recomputed (or all, if too many changed)."""
    changed = changed_patients(session, snap.stamp)
    if len(changed) > MAX_PATCHED:
        return take_snapshot(session, snap.on, protocol, stamp)
    overdue = overdue_lines(session, snap.on, protocol, patient_ids=changed)
    week = week_lines(session, snap.on, protocol, patient_ids=changed)
    kept_overdue = [line for line in snap.overdue if line.patient_id not in changed]
    kept_week = [line for line in snap.week if line.patient_id not in changed]
    return replace(
        snap,
        stamp=stamp,
        overdue=sorted(kept_overdue + overdue, key=overdue_order),
        week=sorted(kept_week + week, key=week_order),
        sites=clinic_sites(session),
    )
