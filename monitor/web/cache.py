"""Keeping the Today page's lists warm: computed once, then patched per changed patient.

The overdue list of a large clinic is an expensive query (BENCHMARKS.md: seconds for 10,000
patients), but the Today page is asked for all day and the lists only change when a patient's
stored slots do (or a line's MRN or site, or a new patient's site). The unit of work records
each of those as a `slot_changes` row (`services.schedule.upkeep`, one per patient per commit,
`monitor db rebuild` included), so the newest record's id (the stamp: one primary-key lookup)
says whether anything changed, and the records after it say for which patients. Those
patients' lines are recomputed by the very queries that computed the whole lists, restricted to
their ids (`services.schedule.worklist`), and spliced in. The whole lists are recomputed on a
new clinic date, after `FULL_EVERY_SECONDS` (a safety net for a change made outside the
program, e.g. by hand in SQL), or when very many patients changed at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.services.people.record import sites
from monitor.services.schedule.upkeep import latest_change, patients_changed_since
from monitor.services.schedule.worklist import (
    overdue_lines,
    overdue_order,
    week_lines,
    week_order,
)
from monitor.web.worklist import Snapshot, take_snapshot

FULL_EVERY_SECONDS = 300
MAX_PATCHED = 200


def data_stamp(session: Session) -> tuple[int, ...]:
    """The id of the newest change record."""
    return (latest_change(session),)


def changed_patients(session: Session, since: tuple[int, ...]) -> set[int]:
    """Patients with a change recorded after the stamp `since`."""
    (last,) = since
    return patients_changed_since(session, last)


class WorklistCache:
    """One Snapshot per process, shared by all requests (one refresh at a time)."""

    def __init__(self, full_every_seconds: float = FULL_EVERY_SECONDS) -> None:
        self._full_every = full_every_seconds
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self, session: Session, on: date, catalogue: Catalogue) -> Snapshot:
        stamp = data_stamp(session)
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.on != on or self._expired(snap):
                snap = take_snapshot(session, on, catalogue, stamp)
            elif snap.stamp != stamp:
                snap = patched(session, snap, catalogue, stamp)
            self._snapshot = snap
            return snap

    def _expired(self, snap: Snapshot) -> bool:
        return time.monotonic() - snap.taken_at >= self._full_every


def patched(
    session: Session, snap: Snapshot, catalogue: Catalogue, stamp: tuple[int, ...]
) -> Snapshot:
    """`snap` with the changed patients' lines recomputed (or all, if too many changed)."""
    changed = changed_patients(session, snap.stamp)
    if len(changed) > MAX_PATCHED:
        return take_snapshot(session, snap.on, catalogue, stamp)
    overdue = overdue_lines(session, snap.on, catalogue, patient_ids=changed)
    week = week_lines(session, snap.on, catalogue, patient_ids=changed)
    kept_overdue = [line for line in snap.overdue if line.patient_id not in changed]
    kept_week = [line for line in snap.week if line.patient_id not in changed]
    return replace(
        snap,
        stamp=stamp,
        overdue=sorted(kept_overdue + overdue, key=overdue_order),
        week=sorted(kept_week + week, key=week_order),
        sites=sites(session),
    )
