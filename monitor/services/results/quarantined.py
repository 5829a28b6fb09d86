"""The quarantine as the screens read it (the retry and drop actions are in `quarantine`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import QuarantineStatus
from monitor.services.listing import LIMIT, where_equal
from monitor.store.models import QuarantineItem


@dataclass(frozen=True)
class QuarantineEntry:
    """One quarantined item: the raw text as received, why it was held, what became of it."""

    id: int
    source: str
    format: str
    received_at: datetime
    reason: str
    raw: str
    status: QuarantineStatus
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


def quarantine_list(
    session: Session,
    status: str | None = None,
    fmt: str | None = None,
    *,
    oldest_first: bool = False,
    limit: int | None = LIMIT,
) -> list[QuarantineEntry]:
    """Items of a status and/or format (None: any), newest first and at most `limit` (the
    worklist's list), or oldest first and all of them (`monitor quarantine`, which works
    through them in order)."""
    order = QuarantineItem.id if oldest_first else QuarantineItem.id.desc()
    query = select(QuarantineItem).order_by(order)
    query = where_equal(query, QuarantineItem.status, status)
    query = where_equal(query, QuarantineItem.format, fmt)
    return [entry_of(row) for row in session.scalars(query.limit(limit))]


def entry_of(row: QuarantineItem) -> QuarantineEntry:
    """A stored item as plain data."""
    return QuarantineEntry(
        id=row.id,
        source=row.source,
        format=row.format,
        received_at=row.received_at,
        reason=row.reason,
        raw=row.raw,
        status=row.status,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution=row.resolution,
    )
