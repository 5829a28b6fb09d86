"""Recording a lab result: validate, convert, store (the unit of work re-matches the slots)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from monitor.domain.rules import RuleSettings
from monitor.domain.units import DEFAULT_CATALOGUE, AnalyteCatalogue, measure
from monitor.domain.vocabulary import ResultStatus
from monitor.errors import Field, FieldError, InvalidInput
from monitor.services.results.flags import raise_flags_for
from monitor.store.models import Flag, Patient, Result
from monitor.store.queries import find_patient


@dataclass(frozen=True)
class ResultIn:
    """A result as it arrives, before validation (CLI, CSV, HL7 and FHIR all produce this)."""

    mrn: str
    analyte: str
    value: str
    unit: str | None
    collected_on: date
    ref_low: float | None = None
    ref_high: float | None = None
    is_menstruating: bool = False
    source: str = "manual"
    accession: str | None = None
    status: ResultStatus = ResultStatus.FINAL
    collected_at: datetime | None = None
    code: str | None = None
    lab_flag: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What storing results did: the rows, and the flags the rules raised."""

    results: list[Result]
    flags: list[Flag]


def add_result(
    session: Session,
    given: ResultIn,
    *,
    today: date,
    now: datetime,
    rules: RuleSettings,
    analytes: AnalyteCatalogue = DEFAULT_CATALOGUE,
) -> Recorded:
    """Store one result; InvalidInput names the problem and nothing is written."""
    return add_results(session, [given], today=today, now=now, rules=rules, analytes=analytes)


def add_results(
    session: Session,
    batch: Sequence[ResultIn],
    *,
    today: date,
    now: datetime,
    rules: RuleSettings,
    analytes: AnalyteCatalogue = DEFAULT_CATALOGUE,
) -> Recorded:
    """Store several results; then, once per patient, run the rules (the slots are re-matched
    once per patient when the unit of work commits). `analytes`: the clinic's catalogue."""
    patients = {mrn: find_patient(session, mrn) for mrn in dict.fromkeys(r.mrn for r in batch)}
    stored = [
        store_result(session, patients[given.mrn], given, today=today, now=now, analytes=analytes)
        for given in batch
    ]
    session.flush()
    mine = [(p, [row for row in stored if row.patient_id == p.id]) for p in patients.values()]
    return Recorded(stored, raise_flags_for(session, mine, rules, now, analytes=analytes))


def store_result(
    session: Session,
    patient: Patient,
    given: ResultIn,
    *,
    today: date,
    now: datetime,
    analytes: AnalyteCatalogue = DEFAULT_CATALOGUE,
) -> Result:
    """Validate and add one result row for `patient` (slots are not rebuilt here); its unit is
    converted by the clinic's analyte catalogue (SPEC §4 and `[analytes]`)."""
    measurement = measure(given.analyte, given.value, given.unit, analytes)
    if given.collected_on > today:
        raise InvalidInput(f"collection date {given.collected_on} is in the future")
    _check_range(given.ref_low, given.ref_high)
    result = Result(
        patient_id=patient.id,
        analyte=measurement.analyte,
        value=measurement.value,
        unit=measurement.unit,
        canonical_value=measurement.canonical_value,
        ordinal=measurement.ordinal,
        ref_low=given.ref_low,
        ref_high=given.ref_high,
        collected_on=given.collected_on,
        is_menstruating=given.is_menstruating,
        source=given.source,
        accession=given.accession,
        received_at=now,
        status=given.status,
        collected_at=given.collected_at,
        code=given.code,
        lab_flag=given.lab_flag,
    )
    session.add(result)
    return result


def _check_range(low: float | None, high: float | None) -> None:
    for field, bound in ((Field.REF_LOW, low), (Field.REF_HIGH, high)):
        if bound is not None and (not math.isfinite(bound) or bound < 0):
            raise FieldError(field, f" {bound} is not a finite non-negative number")
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"reference range {low}-{high} has its low end above its high end")
