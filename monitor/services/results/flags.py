"""Safety flags: raised when results are stored, acknowledged by nurses.

The rules themselves are pure (`domain.rules`); this module feeds them the patient's results
and context, and stores one flag per finding. A finding already stored at the same or a higher
severity for the same result and rule is not stored again, so re-checking combined rules when a
same-day partner arrives only ever adds a new, higher flag (SPEC §9).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from monitor.domain.fields import PERSON_LENGTH, checked_line, checked_note
from monitor.domain.rules import (
    Finding,
    PatientContext,
    ResultFact,
    RuleSettings,
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
    session.flush()
    context = patient_context(session, patient)
    catalogue = session_catalogue(session)
    treatments = domain_treatments(patient)
    facts = [result_fact(row, analytes) for row in _patient_results(session, patient.id)]
    position = {fact.key: index for index, fact in enumerate(facts)}
    collected = {fact.key: fact.collected_on for fact in facts}
    created: list[Flag] = []
    for row in sorted(new_results, key=lambda r: (r.collected_on, r.id)):
        if row.id not in position:  # preliminary: stored and shown, not judged yet
            continue
        index = position[row.id]
        history = facts[:index] + facts[index + 1 :]
        plans = active_plans_on(treatments, catalogue, row.collected_on) if catalogue else []
        findings = evaluate_for_protocols(facts[index], history, context, settings, plans)
        created.extend(_store_new(session, patient.id, findings, now, collected))
    return created


def _store_new(
    session: Session,
    patient_id: int,
    findings: Iterable[Finding],
    now: datetime,
    collected: Mapping[int | str, date],
) -> list[Flag]:
    """Store each finding not already stored as high; one that asks for a repeat records the
    day it is due by (collection date + days), which puts a repeat slot on the schedule."""
    created = []
    for finding in findings:
        existing = session.scalars(
            select(Flag.severity).where(
                Flag.result_id == finding.result_key, Flag.rule == finding.rule
            )
        ).all()
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
        created.append(flag)
    session.flush()
    return created


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


def _patient_results(session: Session, patient_id: int) -> Sequence[Row[*tuple[Any, ...]]]:
    """The results the rules may look at: final and corrected ones (SPEC §4, issue 5), as rows
    of the columns a fact needs (a patient has hundreds: whole ORM objects cost most of an
    import, issue 15)."""
    return session.execute(
        select(*FACT_COLUMNS).where(
            Result.patient_id == patient_id, Result.status.in_(COUNTING_STATUSES)
        )
    ).all()


def result_fact(
    row: Result | Row[*tuple[Any, ...]], analytes: AnalyteCatalogue = DEFAULT_CATALOGUE
) -> ResultFact:
    """A stored result as the rules see it: canonical value, lab range in the canonical unit."""
    has_range = row.ref_low is not None or row.ref_high is not None
    factor = 1.0  # only the lab range needs converting: the value is stored canonical
    if has_range and row.ordinal is None:
        factor = unit_factor(row.analyte, row.unit, analytes)
    return ResultFact(
        key=row.id,
        analyte=row.analyte,
        collected_on=row.collected_on,
        canonical_value=row.canonical_value,
        ordinal=row.ordinal,
        ref_low=None if row.ref_low is None else row.ref_low * factor,
        ref_high=None if row.ref_high is None else row.ref_high * factor,
        is_menstruating=row.is_menstruating,
    )


def patient_context(session: Session, patient: Patient) -> PatientContext:
    periods = session.execute(
        select(Pregnancy.from_on, Pregnancy.to_on).where(Pregnancy.patient_id == patient.id)
    )
    return PatientContext(
        sex=patient.sex,
        courses=alemtuzumab_courses(patient),
        pregnancies=[(start, end) for start, end in periods],
    )


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
