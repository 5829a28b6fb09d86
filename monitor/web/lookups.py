"""Read queries of the pages (the writes all go through `monitor.services`).

Lists that can grow without bound (audit, outbox, flags) are capped at `LIMIT` rows, newest
first, and the page says so; the filters narrow them down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from monitor.domain.reminders import is_timing_skip
from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus, OutboxStatus
from monitor.notify.registry import PATIENT_MESSAGES
from monitor.services.results.flags import ResultFlags, group_by_result
from monitor.store.models import AuditEntry, Flag, OutboxMessage, Patient, QuarantineItem, Result
from monitor.store.queries import severity_rank

LIMIT = 500
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])
UNREACHABLE_DAYS = 7


@dataclass(frozen=True)
class Alert:
    """A result with an open urgent or emergency flag, with all its open flags."""

    group: ResultFlags
    patient_id: int
    mrn: str
    name: str
    site: str


def open_alerts(session: Session, site: str | None) -> list[Alert]:
    """Results with an open urgent or emergency flag, most severe then newest first."""
    alerting = select(Flag.result_id).where(
        Flag.status == FlagStatus.OPEN,
        Flag.severity.in_([Severity.URGENT, Severity.EMERGENCY]),
    )
    query = (
        select(Flag, Patient.id, Patient.mrn, Patient.name, Patient.site)
        .join(Patient, Patient.id == Flag.patient_id)
        .options(selectinload(Flag.result))
        .where(Flag.status == FlagStatus.OPEN, Flag.result_id.in_(alerting))
    )
    if site is not None:
        query = query.where(Patient.site == site)
    rows = session.execute(query).all()
    people = {flag.result_id: (pid, mrn, name, row_site) for flag, pid, mrn, name, row_site in rows}
    groups = group_by_result(flag for flag, *_ in rows)
    return [Alert(group, *people[group.result.id]) for group in groups]


@dataclass(frozen=True)
class Unreachable:
    patient_id: int
    mrn: str
    name: str
    site: str
    why: str
    on: date | None


def unreachable(session: Session, on: date, site: str | None) -> list[Unreachable]:
    """Patients whose reminders were skipped or failed in the last week, newest reason each.

    A skip the reminder rules chose (a superseded step, a due date passed) is left out: the
    patient was reminded by another message.
    """
    query = (
        select(Patient.id, Patient.mrn, Patient.name, Patient.site, OutboxMessage)
        .join(Patient, Patient.id == OutboxMessage.patient_id)
        .where(
            OutboxMessage.message.in_(PATIENT_MESSAGES),
            OutboxMessage.status.in_([OutboxStatus.SKIPPED, OutboxStatus.FAILED]),
            OutboxMessage.run_on >= on - timedelta(days=UNREACHABLE_DAYS - 1),
            OutboxMessage.run_on <= on,
        )
        .order_by(OutboxMessage.id.desc())
    )
    if site is not None:
        query = query.where(Patient.site == site)
    seen: dict[int, Unreachable] = {}
    for pid, mrn, name, row_site, message in session.execute(query):
        if message.status is OutboxStatus.SKIPPED and is_timing_skip(message.reason):
            continue
        if pid not in seen:
            seen[pid] = Unreachable(pid, mrn, name, row_site, why_not_sent(message), message.run_on)
    return sorted(seen.values(), key=lambda u: u.mrn)


def why_not_sent(message: OutboxMessage) -> str:
    if message.status is OutboxStatus.SKIPPED:
        return message.reason or "skipped"
    return f"delivery failed: {message.last_error or 'unknown error'}"


def patient_results(session: Session, patient_id: int) -> Sequence[Result]:
    """Every result of the patient, newest collection first (all statuses: it is the record)."""
    return session.scalars(
        select(Result)
        .where(Result.patient_id == patient_id)
        .order_by(Result.collected_on.desc(), Result.id.desc())
    ).all()


def patient_flags(session: Session, patient_id: int) -> list[ResultFlags]:
    """The patient's flags, one row per result; rows with an open flag hold only open ones."""
    flags = session.scalars(
        select(Flag).where(Flag.patient_id == patient_id).options(selectinload(Flag.result))
    ).all()
    opened = group_by_result(flag for flag in flags if flag.status is FlagStatus.OPEN)
    closed = group_by_result(flag for flag in flags if flag.status is not FlagStatus.OPEN)
    return opened + closed


def patient_emails(session: Session, patient_id: int) -> Sequence[OutboxMessage]:
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.patient_id == patient_id)
        .order_by(OutboxMessage.id.desc())
        .limit(LIMIT)
    ).all()


@dataclass(frozen=True)
class FlagFilter:
    status: str | None
    severity: str | None
    site: str | None


def flags(session: Session, wanted: FlagFilter) -> list[tuple[ResultFlags, str, str]]:
    """Flagged results with MRN and name, most severe then newest first.

    The status filter picks flags; the severity filter picks rows by their most severe flag,
    so a result with an urgent and a review flag is never shown as a review.
    """
    query = (
        select(Flag, Patient.mrn, Patient.name)
        .join(Patient, Patient.id == Flag.patient_id)
        .options(selectinload(Flag.result))
        .order_by(severity_rank(Flag.severity).desc(), Flag.id.desc())
    )
    query = _where(query, Flag.status, wanted.status)
    query = _where(query, Patient.site, wanted.site)
    rows = session.execute(query.limit(LIMIT)).all()
    people = {flag.result_id: (mrn, name) for flag, mrn, name in rows}
    groups = group_by_result(flag for flag, _, _ in rows)
    return [
        (group, *people[group.result.id])
        for group in groups
        if wanted.severity is None or group.severity.value == wanted.severity
    ]


def _where(query: _S, column: Any, value: object | None) -> _S:
    return query if value is None else query.where(column == value)


@dataclass(frozen=True)
class AuditFilter:
    patient_id: int | None
    action: str | None
    actor: str | None
    since: datetime | None
    until: datetime | None


def audit(session: Session, wanted: AuditFilter) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    query = _where(query, AuditEntry.patient_id, wanted.patient_id)
    query = _where(query, AuditEntry.action, wanted.action)
    if wanted.actor is not None:
        query = query.where(AuditEntry.actor.contains(wanted.actor, autoescape=True))
    if wanted.since is not None:
        query = query.where(AuditEntry.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEntry.at < wanted.until)
    return session.scalars(query.limit(LIMIT)).all()


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def outbox(session: Session, status: str | None, message: str | None) -> Sequence[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    query = _where(query, OutboxMessage.status, status)
    query = _where(query, OutboxMessage.message, message)
    return session.scalars(query.limit(LIMIT)).all()


def outbox_kinds(session: Session) -> list[str]:
    return list(
        session.scalars(select(OutboxMessage.message).distinct().order_by(OutboxMessage.message))
    )


def quarantine(session: Session, status: str | None, fmt: str | None) -> Sequence[QuarantineItem]:
    query = select(QuarantineItem).order_by(QuarantineItem.id.desc())
    query = _where(query, QuarantineItem.status, status)
    query = _where(query, QuarantineItem.format, fmt)
    return session.scalars(query.limit(LIMIT)).all()


def sites(session: Session) -> list[str]:
    return list(session.scalars(select(Patient.site).distinct().order_by(Patient.site)))
