"""Is an incoming result one we already have? (issue 5; clinical.md §8.10)

A result is identified by (source, accession, analyte, collection time). The collection time is
the instant when the lab sent one, else the date. Without an accession, the value and unit are
part of the identity too: two different results of one analyte on one day are both kept (SPEC
§9), while a re-sent identical one is not stored again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import COUNTING_STATUSES, ResultStatus
from monitor.errors import InvalidInput
from monitor.services.results.recording import ResultIn
from monitor.store.models import Result


def current_result(session: Session, patient_id: int, given: ResultIn) -> Result | None:
    """The live (not replaced) stored result with the same identity, if any."""
    query = select(Result).where(
        Result.patient_id == patient_id,
        Result.source == given.source,
        Result.analyte == given.analyte,
        Result.collected_on == given.collected_on,
        Result.status != ResultStatus.REPLACED,
    )
    if given.collected_at is None:
        query = query.where(Result.collected_at.is_(None))
    else:
        query = query.where(Result.collected_at == given.collected_at)
    if given.accession is None:
        query = query.where(
            Result.accession.is_(None),
            Result.value == given.value.strip(),
            Result.unit == (given.unit or "").strip(),
        )
    else:
        query = query.where(Result.accession == given.accession)
    return session.scalars(query.order_by(Result.id.desc()).limit(1)).first()


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
