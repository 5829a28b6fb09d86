"""Safety flags: raised when results are stored, acknowledged by nurses.

The rules themselves are pure (`domain.rules`); this module feeds them the patient's results
and context, and stores one flag per finding. A finding already stored at the same or a higher
severity for the same result and rule is not stored again, so re-checking combined rules when a
same-day partner arrives only ever adds a new, higher flag (SPEC §9).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, or_, select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.fields import PERSON_LENGTH, checked_line, checked_note
from monitor.domain.rules import (
    Finding,
    PatientContext,
    ResultFact,
    RuleSettings,
    Severity,
    analytes_read,
    evaluate_for_protocols,
)
from monitor.domain.treatments import active_plans_on
from monitor.domain.units import DEFAULT_CATALOGUE, AnalyteCatalogue, unit_factor
from monitor.domain.vocabulary import COUNTING_STATUSES, FlagStatus
from monitor.errors import Field, FieldError, InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.services.schedule.slots import alemtuzumab_courses, domain_treatments
from monitor.store.db import session_catalogue
from monitor.store.models import Flag, Patient, Pregnancy, Result


def raise_flags(
    session: Session,
    patient: Patient,
    new_results: Sequence[Result],
    settings: RuleSettings,
    now: datetime,
    *,
    analytes: AnalyteCatalogue = DEFAULT_CATALOGUE,
) -> list[Flag]:
    """Run the rules on each new result (in collection order) and store new findings
    (`analytes` converts the lab ranges of the clinic's own analytes). A result is judged under
    the rule overrides of each protocol being monitored on its collection date, the most severe
    finding kept per rule (`domain.rules.evaluate_for_protocols`)."""
    return raise_flags_for(session, [(patient, new_results)], settings, now, analytes=analytes)


def raise_flags_for(
    session: Session,
    batch: Sequence[tuple[Patient, Sequence[Result]]],
    settings: RuleSettings,
    now: datetime,
    *,
    analytes: AnalyteCatalogue = DEFAULT_CATALOGUE,
) -> list[Flag]:
    """`raise_flags` for several patients at once, in their order: their histories, pregnancies
    and earlier flags read in a few queries for all of them (a lab file's chunk names hundreds
    of patients, and a query each was most of an import, issue 15)."""
    session.flush()
    ids = [patient.id for patient, _ in batch]
    new = [result for _, results in batch for result in results]
    histories = _patient_results(session, ids, _HistoryRead.of(new))
    pregnancies = _pregnancies(session, ids)
    catalogue = session_catalogue(session)
    found: list[tuple[int, list[Finding], dict[int | str, date]]] = []
    for patient, new_results in batch:
        context = PatientContext(
            sex=patient.sex,
            courses=alemtuzumab_courses(patient),
            pregnancies=pregnancies.get(patient.id, []),
        )
        facts = _facts(histories.get(patient.id, []), analytes)
        findings = _findings(facts, new_results, context, settings, (patient, catalogue))
        found.append((patient.id, findings, {fact.key: fact.collected_on for fact in facts}))
    stored = _stored_flags(session, [f.result_key for _, findings, _ in found for f in findings])
    created = [
        flag
        for patient_id, findings, collected in found
        for flag in _store_new(session, patient_id, findings, now, collected, stored)
    ]
    session.flush()
    return created


def _findings(
    facts: list[ResultFact],
    new_results: Sequence[Result],
    context: PatientContext,
    settings: RuleSettings,
    whose: tuple[Patient, Catalogue | None],
) -> list[Finding]:
    """What the rules find for each new result (in collection order), each judged against all
    the patient's other results."""
    patient, catalogue = whose
    treatments = domain_treatments(patient)
    position = {fact.key: index for index, fact in enumerate(facts)}
    findings: list[Finding] = []
    for row in sorted(new_results, key=lambda r: (r.collected_on, r.id)):
        if row.id not in position:  # preliminary: stored and shown, not judged yet
            continue
        index = position[row.id]
        history = facts[:index] + facts[index + 1 :]
        plans = active_plans_on(treatments, catalogue, row.collected_on) if catalogue else []
        findings += evaluate_for_protocols(facts[index], history, context, settings, plans)
    return findings


def _store_new(
    session: Session,
    patient_id: int,
    findings: Iterable[Finding],
    now: datetime,
    collected: Mapping[int | str, date],
    stored: dict[tuple[int, str], list[Severity]],
) -> list[Flag]:
    """Store each finding not already stored as high (`stored`: the severities already stored
    per result and rule, kept up to date); one that asks for a repeat records the day it is due
    by (collection date + days), which puts a repeat slot on the schedule."""
    created = []
    for finding in findings:
        existing = stored.setdefault((int(finding.result_key), finding.rule), [])
        if any(severity.rank >= finding.severity.rank for severity in existing):
            continue
        flag = Flag(
            patient_id=patient_id,
            result_id=int(finding.result_key),
            rule=finding.rule,
            severity=finding.severity,
            message=finding.message,
            status=FlagStatus.OPEN,
            created_at=now,
            repeat_due_on=finding.repeat_due_on(collected[finding.result_key]),
        )
        session.add(flag)
        existing.append(finding.severity)
        created.append(flag)
    return created


def _stored_flags(
    session: Session, result_ids: Iterable[int | str]
) -> dict[tuple[int, str], list[Severity]]:
    """The severities of the flags stored on these results, by (result, rule)."""
    stored: dict[tuple[int, str], list[Severity]] = {}
    ids = sorted({int(key) for key in result_ids})
    for start in range(0, len(ids), BATCH):
        rows = session.execute(
            select(Flag.result_id, Flag.rule, Flag.severity).where(
                Flag.result_id.in_(ids[start : start + BATCH])
            )
        )
        for result_id, rule, severity in rows:
            stored.setdefault((result_id, rule), []).append(severity)
    return stored


FACT_COLUMNS = (
    Result.id,
    Result.analyte,
    Result.unit,
    Result.collected_on,
    Result.canonical_value,
    Result.ordinal,
    Result.ref_low,
    Result.ref_high,
    Result.is_menstruating,
)
BATCH = 500  # patients (or results) named in one query's IN list


def _facts(rows: Sequence[Row[*tuple[Any, ...]]], analytes: AnalyteCatalogue) -> list[ResultFact]:
    """Stored results as the rules see them: the canonical value, and the lab range in the
    canonical unit (only the range needs converting: the value is stored canonical). Rows by
    position, each unit's factor found once: a chunk of a lab file reads some 60,000 (issue 15)."""
    factors: dict[tuple[str, str], float] = {}
    facts = []
    for _patient, key, analyte, unit, collected_on, value, ordinal, low, high, mens in rows:
        if (low is not None or high is not None) and ordinal is None:
            factor = factors.get((analyte, unit))
            if factor is None:
                factor = factors[analyte, unit] = unit_factor(analyte, unit, analytes)
            low = None if low is None else low * factor
            high = None if high is None else high * factor
        facts.append(ResultFact(key, analyte, collected_on, value, ordinal, low, high, mens))
    return facts


@dataclass(frozen=True)
class _HistoryRead:
    """Which stored results the rules read to judge new ones: those of the analytes they compare
    with on any date (`domain.rules.analytes_read`) and those collected on a new result's date
    (the combined rules' same-draw partners). A patient has hundreds of results and a lab file's
    chunk names hundreds of patients: reading them all was most of an import (issue 15)."""

    analytes: frozenset[str]
    days: frozenset[date]

    @classmethod
    def of(cls, new_results: Iterable[Result]) -> _HistoryRead:
        new_results = list(new_results)
        return cls(
            analytes_read(result.analyte for result in new_results),
            frozenset(result.collected_on for result in new_results),
        )

    def condition(self) -> ColumnElement[bool]:
        return or_(
            Result.analyte.in_(sorted(self.analytes)), Result.collected_on.in_(sorted(self.days))
        )


def _patient_results(
    session: Session, patient_ids: Sequence[int], wanted: _HistoryRead
) -> dict[int, list[Row[*tuple[Any, ...]]]]:
    """The results the rules may look at: final and corrected ones (SPEC §4, issue 5) of
    `wanted`, as rows of the columns a fact needs (whole ORM objects cost most of an import,
    issue 15), by patient, each patient's in (analyte, collection date, id) order (the order of
    the index they are read through; "several on that date: the last one wins")."""
    found: dict[int, list[Row[*tuple[Any, ...]]]] = {}
    for start in range(0, len(patient_ids), BATCH):
        part = sorted(set(patient_ids[start : start + BATCH]))
        rows = session.connection().execute(  # plain rows: no ORM bookkeeping per row
            select(Result.patient_id, *FACT_COLUMNS)
            .where(
                Result.patient_id.in_(part),
                Result.status.in_(COUNTING_STATUSES),
                wanted.condition(),
            )
            .order_by(Result.patient_id, Result.analyte, Result.collected_on, Result.id)
        )
        for row in rows:
            found.setdefault(row.patient_id, []).append(row)
    return found


def _pregnancies(
    session: Session, patient_ids: Sequence[int]
) -> dict[int, list[tuple[date, date | None]]]:
    found: dict[int, list[tuple[date, date | None]]] = {}
    for start in range(0, len(patient_ids), BATCH):
        rows = session.execute(
            select(Pregnancy.patient_id, Pregnancy.from_on, Pregnancy.to_on)
            .where(Pregnancy.patient_id.in_(patient_ids[start : start + BATCH]))
            .order_by(Pregnancy.id)
        )
        for patient_id, from_on, to_on in rows:
            found.setdefault(patient_id, []).append((from_on, to_on))
    return found


def acknowledge_flag(
    session: Session, *, flag_id: int, by: str, note: str | None, now: datetime
) -> list[Flag]:
    """Close an open flag and every other open flag on the same result; each one audited.

    The flag named must itself be open, so an id copied from an old list cannot close flags
    raised since (a later, higher flag on the same result would be a new row to look at).
    """
    if not by.strip():
        raise FieldError(Field.ACKNOWLEDGED_BY, " must name who acknowledged the flag")
    by = checked_line(by, Field.ACKNOWLEDGED_BY, PERSON_LENGTH)
    note = checked_note(note, Field.NOTE) if note is not None else None
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(f"unknown flag id {flag_id}")
    if flag.status is not FlagStatus.OPEN:
        raise InvalidInput(f"flag {flag_id} is already {flag.status.value}")
    siblings = session.scalars(
        select(Flag)
        .where(Flag.result_id == flag.result_id, Flag.status == FlagStatus.OPEN)
        .order_by(Flag.id)
    ).all()
    for each in siblings:
        _acknowledge(session, each, by=by, note=note, now=now)
    return list(siblings)


def _acknowledge(session: Session, flag: Flag, *, by: str, note: str | None, now: datetime) -> None:
    flag.status = FlagStatus.ACKNOWLEDGED
    flag.acknowledged_by, flag.acknowledged_at, flag.acknowledged_note = by, now, note
    record_change(
        session,
        at=now,
        actor=by,
        action="flag.acknowledge",
        entity="flag",
        entity_id=flag.id,
        patient_id=flag.patient_id,
        before={"status": FlagStatus.OPEN.value},
        after={"status": flag.status.value, "note": note},
    )
