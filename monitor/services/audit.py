"""The audit trail: who changed what, when, before and after (append-only), and its reading."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.services.listing import where_equal
from monitor.store.models import AuditEntry


def record_change(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    patient_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one audit row; values must be JSON-friendly (dates as ISO strings)."""
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            patient_id=patient_id,
            before=before,
            after=after,
        )
    )


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as the screens show it."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    patient_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class AuditFilter:
    """The audit list's filters (None: any); `actor` matches part of the name."""

    patient_id: int | None = None
    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_list(
    session: Session, wanted: AuditFilter, *, newest_first: bool, limit: int | None
) -> list[AuditRow]:
    """The entries matching `wanted`: the page reads the newest `LIMIT`, `monitor audit` all of
    them oldest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc() if newest_first else AuditEntry.id)
    query = where_equal(query, AuditEntry.patient_id, wanted.patient_id)
    query = where_equal(query, AuditEntry.action, wanted.action)
    if wanted.actor is not None:
        query = query.where(AuditEntry.actor.contains(wanted.actor, autoescape=True))
    if wanted.since is not None:
        query = query.where(AuditEntry.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEntry.at < wanted.until)
    return [_row(entry) for entry in session.scalars(query.limit(limit))]


def audit_actions(session: Session) -> list[str]:
    """The actions the log holds, for a filter."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def _row(entry: AuditEntry) -> AuditRow:
    return AuditRow(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        entity=entry.entity,
        entity_id=entry.entity_id,
        patient_id=entry.patient_id,
        before=entry.before,
        after=entry.after,
    )
