"""Every email decided, as the screens read it: the outbox list and one patient's emails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.services.listing import LIMIT, where_equal
from monitor.store.models import OutboxMessage


@dataclass(frozen=True)
class Email:
    """One outbox row without its body: what was decided, for whom, and what became of it."""

    id: int
    message: str
    recipient: str
    subject: str
    status: OutboxStatus
    dedupe_key: str
    message_id: str
    reason: str | None
    last_error: str | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    channel: Channel = Channel.EMAIL  # a letter's recipient is its postal address, an SMS's a phone


def outbox_list(
    session: Session,
    status: str | None = None,
    message: str | None = None,
    *,
    limit: int | None = LIMIT,
) -> list[Email]:
    """The newest `limit` emails (all with None) of a status and/or message kind (None: any)."""
    query = where_equal(_newest_first(), OutboxMessage.status, status)
    return _emails(session, where_equal(query, OutboxMessage.message, message), limit)


def patient_emails(session: Session, patient_id: int) -> list[Email]:
    """The newest `LIMIT` emails decided for one patient."""
    return _emails(session, _newest_first().where(OutboxMessage.patient_id == patient_id), LIMIT)


def outbox_kinds(session: Session) -> list[str]:
    """The message kinds the outbox holds, for a filter."""
    return list(
        session.scalars(select(OutboxMessage.message).distinct().order_by(OutboxMessage.message))
    )


def _newest_first() -> Select[OutboxMessage]:
    """By creation, then id (rows of one instant keep the order they were queued in)."""
    return select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())


def _emails(session: Session, query: Select[OutboxMessage], limit: int | None) -> list[Email]:
    return [
        Email(
            id=row.id,
            message=row.message,
            recipient=row.recipient,
            subject=row.subject,
            status=row.status,
            dedupe_key=row.dedupe_key,
            message_id=row.message_id,
            reason=row.reason,
            last_error=row.last_error,
            attempts=row.attempts,
            created_at=row.created_at,
            sent_at=row.sent_at,
            channel=row.channel,
        )
        for row in session.scalars(query.limit(limit))
    ]
