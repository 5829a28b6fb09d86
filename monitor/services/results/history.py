"""A patient's results as the screens read them: plain values, newest collection first."""

from __future__ import annotations

from dataclasses import dataclass
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
    return ResultView(
        id=row.id,
        analyte=row.analyte,
        value=row.value,
        unit=row.unit,
        canonical_value=row.canonical_value,
        ordinal=row.ordinal,
        ref_low=row.ref_low,
        ref_high=row.ref_high,
        collected_on=row.collected_on,
        is_menstruating=row.is_menstruating,
        source=row.source,
        accession=row.accession,
        status=row.status,
    )


def patient_results(session: Session, patient_id: int) -> list[ResultView]:
    """Every result of the patient, newest collection first (all statuses: it is the record)."""
    rows = session.scalars(
        select(Result)
        .where(Result.patient_id == patient_id)
        .order_by(Result.collected_on.desc(), Result.id.desc())
    )
    return [result_view(row) for row in rows]
