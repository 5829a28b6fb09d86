"""Is an incoming result one we already have? (issue 5; clinical.md §8.10)

A result is identified by (source, accession, analyte, collection time). The collection time is
the instant when the lab sent one, else the date. Without an accession, the value and unit are
part of the identity too: two different results of one analyte on one day are both kept (SPEC
§9), while a re-sent identical one is not stored again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import COUNTING_STATUSES, ResultStatus
from monitor.errors import InvalidInput
from monitor.services.results.recording import ResultIn
from monitor.store.models import Result


def current_result(session: Session, patient_id: int, given: ResultIn) -> Result | None:
    """The live (not replaced) stored result with the same identity, if any."""
    rows = session.scalars(
        _same_day(given.source, given.analyte, given.collected_on).where(
            Result.patient_id == patient_id
        )
    )
    return _newest_same(list(rows), given)


class KnownResults:
    """`current_result` for a chunk of a file: the live results of its patients on its
    collection dates, read in one query, and every result the chunk stores after them, so each
    item is judged from memory with the same answer (one query a result was a fifth of an
    import, issue 15)."""

    def __init__(self, session: Session, patient_ids: Collection[int], days: Collection[date]):
        self.groups: dict[tuple[object, ...], list[Result]] = defaultdict(list)
        ids = sorted(patient_ids)
        for start in range(0, len(ids) if days else 0, BATCH):
            for row in session.scalars(_live_on(ids[start : start + BATCH], days)):
                self.add(row)

    def current(self, patient_id: int, given: ResultIn) -> Result | None:
        key = (patient_id, given.source, given.analyte, given.collected_on)
        return _newest_same(self.groups.get(key, []), given)

    def read_again(self, session: Session, patient_id: int, given: ResultIn) -> None:
        """`given`'s group as the database now has it (after a correction or a withdrawal,
        written by `current_result`'s caller)."""
        query = _same_day(given.source, given.analyte, given.collected_on)
        rows = session.scalars(query.where(Result.patient_id == patient_id))
        self.groups[(patient_id, given.source, given.analyte, given.collected_on)] = list(rows)

    def add(self, row: Result) -> None:
        """A row stored after the read (a new id is always higher: the newest of its group)."""
        self.groups[(row.patient_id, row.source, row.analyte, row.collected_on)].append(row)


BATCH = 500  # patients, or days, named in one query's IN list


def _live_on(patient_ids: list[int], days: Collection[date]) -> Select[Result]:
    """The live results of these patients on these days (or between the first and the last of
    many days: the rows are sorted into groups anyway), in id order."""
    on_days = (
        Result.collected_on.in_(sorted(days))
        if len(days) <= BATCH
        else Result.collected_on.between(min(days), max(days))
    )
    query = select(Result).where(
        Result.patient_id.in_(patient_ids), on_days, Result.status != ResultStatus.REPLACED
    )
    return query.order_by(Result.id)


def _same_day(source: str, analyte: str, collected_on: date) -> Select[Result]:
    return (
        select(Result)
        .where(
            Result.source == source,
            Result.analyte == analyte,
            Result.collected_on == collected_on,
            Result.status != ResultStatus.REPLACED,
        )
        .order_by(Result.id)
    )


def _newest_same(rows: Sequence[Result], given: ResultIn) -> Result | None:
    """The newest live row (rows in id order) with `given`'s identity."""
    for row in reversed(rows):
        if row.status is not ResultStatus.REPLACED and same_identity(row, given):
            return row
    return None


def same_identity(row: Result, given: ResultIn) -> bool:
    """Is a stored row (of the same patient, source, analyte and day) the result `given`
    names? The collection instant when the lab sent one; the accession when it has one, else
    the value and unit as stored."""
    if row.collected_at != given.collected_at:  # both None, or the same instant
        return False
    if given.accession is None:
        return (
            row.accession is None
            and row.value == given.value.strip()
            and row.unit == (given.unit or "").strip()
        )
    return row.accession == given.accession


def is_repeat(current: Result, given: ResultIn) -> bool:
    """True when storing `given` would change nothing; False when it replaces `current`.

    A preliminary never replaces a final; a final that differs from a stored final without
    being marked as a correction is refused (InvalidInput: it goes to the quarantine), because
    silently keeping either value could hide the right one.
    """
    same = (current.value, current.unit) == (given.value.strip(), (given.unit or "").strip())
    if given.status is ResultStatus.PRELIMINARY and current.status is not ResultStatus.PRELIMINARY:
        return True
    if same and (
        given.status is current.status
        or current.status in (ResultStatus.CORRECTED, ResultStatus.ENTERED_IN_ERROR)
    ):
        return True
    if given.status is ResultStatus.FINAL and current.status in COUNTING_STATUSES:
        raise InvalidInput(
            f"differs from stored result {current.id} ({current.value} {current.unit}) with the "
            "same accession and collection time, but is not marked as a correction"
        )
    return False
