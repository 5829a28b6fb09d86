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
program, e.g. by hand in SQL: in the background when the app gives the cache its own sessions),
or when very many patients changed at once.

Every process (each `monitor serve`, each of its workers) keeps its own lists and asks the
database on every page, so all of them show what was committed. One subtlety: PostgreSQL hands
out ids when a row is inserted, not when its transaction commits, so a record can become
visible after one with a higher id (two writers committing at nearly the same moment). An id
below the stamp that was missing when last looked for is kept as *unsettled* and asked for
again on the next pages until it appears (its patient is then patched) or the next full
recompute; SQLite, with one writer at a time, never has one that later appears.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.services.operations.database import error_summary
from monitor.services.people.record import sites
from monitor.services.schedule.upkeep import latest_change
from monitor.services.schedule.worklist import (
    change_ids_from,
    changes_after,
    overdue_lines,
    overdue_order,
    week_lines,
    week_order,
)
from monitor.web.worklist import Snapshot, take_snapshot

log = logging.getLogger("monitor.web")
FULL_EVERY_SECONDS = 300
MAX_PATCHED = 200
# How far below the stamp a full recompute looks for ids not committed yet: more change records
# than a transaction in flight could see others commit (a rebuild writes one per patient).
UNSETTLED_LOOKBACK = 10_000


def data_stamp(session: Session) -> tuple[int, ...]:
    """The id of the newest change record."""
    return (latest_change(session),)


def unsettled_below(session: Session, stamp: tuple[int, ...]) -> frozenset[int]:
    """Ids up to the stamp, within the lookback, with no committed record (yet). Not those
    below the oldest record kept: those were pruned (`upkeep.prune_changes`)."""
    (last,) = stamp
    present = change_ids_from(session, max(1, last - UNSETTLED_LOOKBACK + 1))
    if not present:
        return frozenset()
    return frozenset(range(min(present), last + 1)) - present


class WorklistCache:
    """One Snapshot per process, shared by all requests (one refresh at a time).

    Given `sessions` (a unit of work for a thread of its own), the five-minute safety-net
    recompute runs in the background while pages keep being served from the patched lists, so
    no nurse waits for the whole clinic's lists but on a new clinic day (or without `sessions`).
    """

    def __init__(
        self,
        full_every_seconds: float = FULL_EVERY_SECONDS,
        sessions: Callable[[], AbstractContextManager[Session]] | None = None,
    ) -> None:
        self._full_every = full_every_seconds
        self._sessions = sessions
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._refreshing: threading.Thread | None = None

    def get(self, session: Session, on: date, catalogue: Catalogue) -> Snapshot:
        stamp = data_stamp(session)
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.on != on:
                snap = recomputed(session, on, catalogue, stamp)
            elif self._expired(snap) and not self._refresh_later(on, catalogue):
                snap = recomputed(session, on, catalogue, stamp)
            elif snap.stamp != stamp or snap.unsettled:
                snap = patched(session, snap, catalogue, stamp)
            self._snapshot = snap
            return snap

    def refreshed(self) -> None:
        """Wait for a background recompute in progress (tests)."""
        thread = self._refreshing
        if thread is not None:
            thread.join()

    def _expired(self, snap: Snapshot) -> bool:
        return time.monotonic() - snap.taken_at >= self._full_every

    def _refresh_later(self, on: date, catalogue: Catalogue) -> bool:
        """Start the background recompute (unless one runs); False if there is no way to."""
        if self._sessions is None:
            return False
        if self._refreshing is None or not self._refreshing.is_alive():
            self._refreshing = threading.Thread(
                target=self._refresh, args=(on, catalogue), name="worklist-refresh", daemon=True
            )
            self._refreshing.start()
        return True

    def _refresh(self, on: date, catalogue: Catalogue) -> None:
        """The whole lists, swapped in if still for the clinic date in use. The pages patch
        them from their own stamp on, so the changes made meanwhile are not lost."""
        assert self._sessions is not None
        try:
            with self._sessions() as session:
                fresh = recomputed(session, on, catalogue, data_stamp(session))
        except Exception as error:  # the next page tries again; the lists in use stay
            log.warning("the Today lists could not be recomputed: %s", error_summary(error))
            with self._lock:
                if self._snapshot is not None:
                    self._snapshot = replace(self._snapshot, taken_at=time.monotonic())
            return
        with self._lock:
            if self._snapshot is None or self._snapshot.on == on:
                self._snapshot = fresh


def recomputed(
    session: Session, on: date, catalogue: Catalogue, stamp: tuple[int, ...]
) -> Snapshot:
    """The whole lists, and the ids below the stamp whose records may still be committed."""
    unsettled = unsettled_below(session, stamp)
    return replace(take_snapshot(session, on, catalogue, stamp), unsettled=unsettled)


def patched(
    session: Session, snap: Snapshot, catalogue: Catalogue, stamp: tuple[int, ...]
) -> Snapshot:
    """`snap` with the changed patients' lines recomputed (or all, if too many changed)."""
    (last,) = snap.stamp
    records = changes_after(session, last, snap.unsettled)
    seen = {change_id for change_id, _ in records}
    # The records read may run past `stamp` (read a moment later): they count up to their own.
    newest = max([stamp[0], *seen])
    unsettled = (snap.unsettled - seen) | (frozenset(range(last + 1, newest + 1)) - seen)
    changed = {patient_id for _, patient_id in records}
    if not changed:
        return replace(snap, stamp=(newest,), unsettled=unsettled)
    if len(changed) > MAX_PATCHED:
        return recomputed(session, snap.on, catalogue, (newest,))
    overdue = overdue_lines(session, snap.on, catalogue, patient_ids=changed)
    week = week_lines(session, snap.on, catalogue, patient_ids=changed)
    kept_overdue = [line for line in snap.overdue if line.patient_id not in changed]
    kept_week = [line for line in snap.week if line.patient_id not in changed]
    return replace(
        snap,
        stamp=(newest,),
        unsettled=unsettled,
        overdue=sorted(kept_overdue + overdue, key=overdue_order),
        week=sorted(kept_week + week, key=week_order),
        sites=sites(session),
    )
