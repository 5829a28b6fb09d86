"""Every email the service decided, as `monitor outbox` lists them: newest first, plain rows.

The list carries what a person needs to follow one message (its status, tries, the reason it
was skipped or the server's last reply, its Message-ID), never its body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import OutboxStatus
from monitor.store.models import OutboxMessage


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    message: str
    recipient: str
    subject: str
    status: OutboxStatus
    dedupe_key: str
    message_id: str
    reason: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def newest_emails(session: Session, limit: int | None = None) -> list[OutboxEntry]:
    """The outbox newest first (by creation, then id), the newest `limit` only if given."""
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    return [_entry(row) for row in session.scalars(query.limit(limit))]


def _entry(row: OutboxMessage) -> OutboxEntry:
    return OutboxEntry(
        row.id,
        row.message,
        row.recipient,
        row.subject,
        row.status,
        row.dedupe_key,
        row.message_id,
        row.reason,
        row.attempts,
        row.last_error,
        row.created_at,
        row.sent_at,
    )
