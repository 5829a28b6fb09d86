"""A person's corrections of stored results: a mistyped value, or a result entered in error
(issue 14 item 2). They take the same path as a lab's corrections (`services.results.corrections`):
a correction stores a new row with the corrected value (the unit validated and converted as
`result add` does), runs the rules on it and marks the old row `replaced`, pointing at it; a
void marks the row `entered-in-error`. Either way the old row's open flags are superseded, the
audit entry carries the reason, and the unit of work re-matches the slots at commit (it watches
`Result.status`), so a voided result no longer completes its slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.fields import required_note
from monitor.domain.vocabulary import ResultStatus
from monitor.errors import Field, InvalidInput, NotFound
from monitor.services.results.corrections import replace_result, withdraw_result
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.store.models import Flag, Patient, Result

CLOSED = (ResultStatus.REPLACED, ResultStatus.ENTERED_IN_ERROR)


@dataclass(frozen=True)
class Corrected:
    """What a correction did: the new row, the flags its rules raised, those superseded."""

    result: Result
    flags: list[Flag]
    superseded: list[int]


def correct_result(
    session: Session,
    *,
    result_id: int,
    value: str,
    unit: str | None,
    reason: str,
    actor: str,
    now: datetime,
    today: date,
    config: Config,
) -> Corrected:
    """Replace result `result_id` by one with `value` and `unit` (same test, same day).

    InvalidInput (nothing changed) for an unknown or closed result, no reason, or a value or
    unit `result add` would refuse."""
    reason = required_note(reason, Field.REASON)
    old = _open_result(session, result_id)
    patient = session.get(Patient, old.patient_id)
    assert patient is not None
    given = ResultIn(
        mrn=patient.mrn,
        analyte=old.analyte,
        value=value,
        unit=unit,
        collected_on=old.collected_on,
        ref_low=old.ref_low,
        ref_high=old.ref_high,
        is_menstruating=old.is_menstruating,
        source=old.source,
        accession=old.accession,
        status=ResultStatus.CORRECTED,
        collected_at=old.collected_at,
        code=old.code,
    )
    previous = old.status
    old.status = ResultStatus.REPLACED  # out of the rules' history before the new value
    session.flush()
    recorded = record_results(session, [given], today=today, now=now, config=config)
    new = recorded.results[0]
    superseded = replace_result(session, old, new, previous, now, actor, reason=reason)
    return Corrected(new, recorded.flags, superseded)


def void_result(
    session: Session, *, result_id: int, reason: str, actor: str, now: datetime
) -> list[int]:
    """Mark result `result_id` entered in error; the ids of the open flags it superseded."""
    reason = required_note(reason, Field.REASON)
    old = _open_result(session, result_id)
    return withdraw_result(session, old, now, actor, reason=reason)


def _open_result(session: Session, result_id: int) -> Result:
    row = session.get(Result, result_id)
    if row is None:
        raise NotFound(f"unknown result id {result_id}")
    if row.status in CLOSED:
        later = f" by result {row.replaced_by_id}" if row.replaced_by_id else ""
        raise InvalidInput(
            f"result {result_id} is {row.status.value}{later}: only a current result can be "
            "corrected or voided"
        )
    return row


def result_mrn(session: Session, result_id: int) -> str | None:
    """The MRN of the patient a result belongs to (None: no such result)."""
    query = select(Patient.mrn).join(Result, Result.patient_id == Patient.id)
    return session.scalar(query.where(Result.id == result_id))
