"""Update a patient's stored slots for new results without rebuilding them (issue 15 item 2).

A lab feed's message is new final results and nothing else; rebuilding the patient's ~300 slots
for it cost most of an import. The unit of work (`services.schedule.upkeep`) calls
`update_for_patients` for the patients whose only changes in the transaction are new results: it
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

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.rematch import MatchedSlot, Required, rematch, touched_slots
from monitor.domain.schedule import add_months
from monitor.domain.status import CountedResult
from monitor.domain.vocabulary import COUNTING_STATUSES
from monitor.services.schedule.slots import KEEP_AHEAD_MONTHS
from monitor.store.models import Result, Slot, Treatment

SLOTS: Table = Slot.__table__  # type: ignore[assignment]


def update_for_patients(
    session: Session,
    changes: dict[int, list[CountedResult]],
    catalogue: Catalogue,
    today: date,
) -> set[int]:
    """Re-match the slots the patients' new results (analyte, collection date) can change, in a
    few queries for all of them (a lab file's chunk has hundreds, issue 15); the patients whose
    stored slots are not today's plan, left for the full rebuild."""
    stale = _not_current(session, list(changes), catalogue, today)
    changes = {
        patient: found for patient, found in changes.items() if found and patient not in stale
    }
    required = _required(catalogue)
    candidates = _candidates(session, changes)
    touched = {
        patient: slots
        for patient, found in changes.items()
        if (slots := touched_slots(candidates.get(patient, []), required, found))
    }
    results = _results(session, touched, required)
    changed = [
        change
        for patient, slots in touched.items()
        for change in rematch(slots, required, results.get(patient, []))
    ]
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
    return stale


BATCH = 100  # patients in one query (each brings a few bound values)


def _batches(patients: Iterable[int]) -> list[list[int]]:
    ordered = sorted(patients)
    return [ordered[start : start + BATCH] for start in range(0, len(ordered), BATCH)]


def _not_current(
    session: Session, patients: list[int], catalogue: Catalogue, today: date
) -> set[int]:
    """The patients with a treatment not planned from these protocols, or running out of plan."""
    keep_until = add_months(today, KEEP_AHEAD_MONTHS)
    fingerprints = catalogue.fingerprints()
    stale = set()
    for part in _batches(patients):
        rows = session.execute(
            select(
                Treatment.patient_id,
                Treatment.protocol,
                Treatment.schedule_fingerprint,
                Treatment.planned_until_on,
            ).where(Treatment.patient_id.in_(part))
        )
        for patient, protocol, fingerprint, planned_until_on in rows:
            if fingerprint is None or fingerprint != fingerprints.get(protocol):
                stale.add(patient)
            elif planned_until_on is not None and planned_until_on < keep_until:
                stale.add(patient)
    return stale


def _candidates(
    session: Session, changes: dict[int, list[CountedResult]]
) -> dict[int, list[MatchedSlot]]:
    """Each patient's slots that can count a result on or after their earliest change (a
    superset of what `touched_slots` keeps, read through the patient's slots)."""
    found: dict[int, list[MatchedSlot]] = {}
    for part in _batches(changes):
        mine = []
        for patient in part:
            first = min(c.collected_on for c in changes[patient])
            last = max(c.collected_on for c in changes[patient])
            mine.append(
                and_(
                    Slot.patient_id == patient,
                    Slot.window_start <= last,
                    or_(
                        Slot.window_end >= first,
                        Slot.next_window_start.is_(None),
                        Slot.next_window_start > first,
                    ),
                )
            )
        rows = session.execute(
            select(
                Slot.patient_id,
                Slot.id,
                Slot.protocol,
                Slot.panel,
                Slot.window_start,
                Slot.window_end,
                Slot.next_window_start,
                Slot.done_on,
                Slot.completed_on,
            ).where(or_(*mine))
        )
        for patient, *slot in rows:
            found.setdefault(patient, []).append(MatchedSlot(*slot))  # type: ignore[arg-type]
    return found


def _results(
    session: Session, touched: dict[int, list[MatchedSlot]], required: Required
) -> dict[int, list[CountedResult]]:
    """Each patient's counting results of the touched slots' analytes since the earliest of
    their windows (`ix_results_patient_analyte`)."""
    found: dict[int, list[CountedResult]] = {}
    for part in _batches(touched):
        mine = []
        for patient in part:
            slots = touched[patient]
            analytes = {a for slot in slots for a in required(slot.protocol, slot.panel)}
            mine.append(
                and_(
                    Result.patient_id == patient,
                    Result.analyte.in_(sorted(analytes)),
                    Result.collected_on >= min(slot.window_start for slot in slots),
                )
            )
        rows = session.execute(
            select(Result.patient_id, Result.analyte, Result.collected_on).where(
                or_(*mine), Result.status.in_(COUNTING_STATUSES)
            )
        )
        for patient, analyte, collected_on in rows:
            found.setdefault(patient, []).append(CountedResult(analyte, collected_on))
    return found


def _required(catalogue: Catalogue) -> Required:
    @cache
    def required(protocol: str, panel: str) -> tuple[str, ...]:
        return catalogue.panel(protocol, panel).analytes

    return required
