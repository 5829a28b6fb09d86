"""A patient's results as the screens read them: plain values, newest collection first."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import ResultStatus
from monitor.store.models import Result


@dataclass(frozen=True)
class ResultView:
    """One stored result: the value and unit as the lab sent them, the canonical value."""

    id: int
    analyte: str
    value: str
    unit: str
    canonical_value: float | None
    ordinal: str | None
    ref_low: float | None
    ref_high: float | None
    collected_on: date
    is_menstruating: bool
    source: str
    accession: str | None
    status: ResultStatus


def result_view(row: Result) -> ResultView:
    """A loaded `Result` row as plain data (the view's fields are the row's column names)."""
    return ResultView(*(getattr(row, name) for name in _FIELDS))


def patient_results(session: Session, patient_id: int) -> list[ResultView]:
    """Every result of the patient, newest collection first (all statuses: it is the record)."""
    rows = session.execute(
        select(*(getattr(Result, name) for name in _FIELDS))
        .where(Result.patient_id == patient_id)
        .order_by(Result.collected_on.desc(), Result.id.desc())
    )
    return [ResultView(*row) for row in rows]  # columns, not rows: a long record reads faster


_FIELDS = tuple(field.name for field in fields(ResultView))  # each the `Result` column's name
