"""The audit trail: who changed what, when, before and after (append-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

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
