"""Corrected and withdrawn results (SPEC §4 superseded flags; clinical.md §8.10).

The earlier row is never deleted: a correction marks it `replaced` and points it at the new row;
a withdrawal (`entered-in-error`) keeps it in the history but out of slot matching and rules.
Open flags of the earlier row are marked `superseded`: the rules have already run on the
corrected value, so a finding that no longer fires is cleared and one that still fires is open
once, on the corrected result. Both changes are audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import FlagStatus, ResultStatus
from monitor.services.audit import record_change
from monitor.store.models import Flag, Result


def replace_result(
    session: Session,
    old: Result,
    new: Result,
    previous: ResultStatus,
    now: datetime,
    actor: str,
    reason: str | None = None,
) -> list[int]:
    """Point the replaced row at its successor, supersede its open flags, audit (with the
    person's reason, when a person corrected it); flag ids."""
    old.status = ResultStatus.REPLACED
    old.replaced_by_id = new.id
    superseded = supersede_open_flags(session, old.id)
    still = sorted({f.rule for f in _flags_of(session, new.id)})
    record_change(
        session,
        at=now,
        actor=actor,
        action="result.correct",
        entity="result",
        entity_id=old.id,
        patient_id=old.patient_id,
        before=_snapshot(old, status=previous.value),
        after={
            **_snapshot(new),
            "replaced_by": new.id,
            "superseded_flags": superseded,
            "rules_firing": still,
        }
        | _reason(reason),
    )
    return superseded


def withdraw_result(
    session: Session, old: Result, now: datetime, actor: str, reason: str | None = None
) -> list[int]:
    """Take an entered-in-error result out of matching and rules, keeping it in history."""
    before = _snapshot(old)
    old.status = ResultStatus.ENTERED_IN_ERROR
    superseded = supersede_open_flags(session, old.id)
    record_change(
        session,
        at=now,
        actor=actor,
        action="result.entered_in_error",
        entity="result",
        entity_id=old.id,
        patient_id=old.patient_id,
        before=before,
        after={"status": old.status.value, "superseded_flags": superseded} | _reason(reason),
    )
    return superseded


def _reason(reason: str | None) -> dict[str, str]:
    return {"reason": reason} if reason else {}


def supersede_open_flags(session: Session, result_id: int) -> list[int]:
    flags = [f for f in _flags_of(session, result_id) if f.status is FlagStatus.OPEN]
    for flag in flags:
        flag.status = FlagStatus.SUPERSEDED
    return [flag.id for flag in flags]


def _flags_of(session: Session, result_id: int) -> list[Flag]:
    return list(session.scalars(select(Flag).where(Flag.result_id == result_id)))


def _snapshot(row: Result, status: str | None = None) -> dict[str, object]:
    return {
        "value": row.value,
        "unit": row.unit,
        "status": status or row.status.value,
        "collected_on": row.collected_on.isoformat(),
        "accession": row.accession,
    }
