"""Update a patient's stored slots for new results without rebuilding them (issue 15 item 2).

A lab feed's message is new final results and nothing else; rebuilding the patient's ~300 slots
for it cost most of an import. The unit of work (`services.schedule.upkeep`) calls
`update_for_results` for a patient whose only changes in the transaction are new results: it
reads the stored slots those results can change and the patient's results of their analytes
from the first of their windows on (`ix_results_patient_analyte`), re-matches them
(`domain.rematch`), and writes the slots whose dates moved. Anything else (a course, a
treatment, a waiver, the status, a result corrected or withdrawn, a flag asking for a repeat)
keeps the full rebuild.

The stored slots must be what a rebuild would make today: every treatment's schedule from this
unit of work's protocols (its fingerprint), and an open-ended series planned far enough ahead
that the daily cycle would not extend it (`KEEP_AHEAD_MONTHS`). Otherwise the patient is
rebuilt whole. (A series planned a few days ago ends a few days earlier than today's rebuild
would plan it; no result collected up to today can count for a slot that far ahead, and the
daily cycle extends the plan in time.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import cache

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.rematch import MatchedSlot, Required, rematch, touched_slots
from monitor.domain.schedule import add_months
from monitor.domain.status import CountedResult
from monitor.domain.vocabulary import COUNTING_STATUSES
from monitor.services.schedule.slots import KEEP_AHEAD_MONTHS
from monitor.store.models import Result, Slot, Treatment

SLOTS: Table = Slot.__table__  # type: ignore[assignment]


def update_for_results(
    session: Session,
    patient_id: int,
    changes: Iterable[CountedResult],
    catalogue: Catalogue,
    today: date,
) -> bool:
    """Re-match the slots the new results (analyte, collection date) can change; False when the
    stored slots are not today's plan and the patient needs the full rebuild instead."""
    if not _slots_are_current(session, patient_id, catalogue, today):
        return False
    changes = list(changes)
    if not changes:
        return True
    required = _required(catalogue)
    touched = touched_slots(_candidates(session, patient_id, changes), required, changes)
    if not touched:
        return True
    analytes = {a for slot in touched for a in required(slot.protocol, slot.panel)}
    since = min(slot.window_start for slot in touched)
    changed = rematch(touched, required, _results(session, patient_id, analytes, since))
    if changed:
        statement = (
            update(SLOTS)
            .where(SLOTS.c.id == bindparam("slot_id"))
            .values(done_on=bindparam("new_done_on"), completed_on=bindparam("new_completed_on"))
        )
        rows = [
            {"slot_id": c.id, "new_done_on": c.done_on, "new_completed_on": c.completed_on}
            for c in changed
        ]
        session.connection().execute(statement, rows)
    return True


def _slots_are_current(
    session: Session, patient_id: int, catalogue: Catalogue, today: date
) -> bool:
    """Every treatment planned from these protocols, none running out of plan."""
    rows = session.execute(
        select(
            Treatment.protocol, Treatment.schedule_fingerprint, Treatment.planned_until_on
        ).where(Treatment.patient_id == patient_id)
    )
    keep_until = add_months(today, KEEP_AHEAD_MONTHS)
    fingerprints = catalogue.fingerprints()
    for protocol, fingerprint, planned_until_on in rows:
        if fingerprint is None or fingerprint != fingerprints.get(protocol):
            return False
        if planned_until_on is not None and planned_until_on < keep_until:
            return False
    return True


def _candidates(
    session: Session, patient_id: int, changes: list[CountedResult]
) -> list[MatchedSlot]:
    """The patient's slots that can count a result on or after the earliest change (a superset
    of what `touched_slots` keeps, read through the patient's slots)."""
    first = min(c.collected_on for c in changes)
    last = max(c.collected_on for c in changes)
    rows = session.execute(
        select(
            Slot.id,
            Slot.protocol,
            Slot.panel,
            Slot.window_start,
            Slot.window_end,
            Slot.next_window_start,
            Slot.done_on,
            Slot.completed_on,
        ).where(
            Slot.patient_id == patient_id,
            Slot.window_start <= last,
            or_(
                Slot.window_end >= first,
                Slot.next_window_start.is_(None),
                Slot.next_window_start > first,
            ),
        )
    )
    return [MatchedSlot(*row) for row in rows]


def _results(
    session: Session, patient_id: int, analytes: set[str], since: date
) -> list[CountedResult]:
    rows = session.execute(
        select(Result.analyte, Result.collected_on).where(
            Result.patient_id == patient_id,
            Result.analyte.in_(sorted(analytes)),
            Result.collected_on >= since,
            Result.status.in_(COUNTING_STATUSES),
        )
    )
    return [CountedResult(analyte, collected_on) for analyte, collected_on in rows]


def _required(catalogue: Catalogue) -> Required:
    @cache
    def required(protocol: str, panel: str) -> tuple[str, ...]:
        return catalogue.panel(protocol, panel).analytes

    return required
