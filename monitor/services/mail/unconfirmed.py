"""Emails the mail server never confirmed: a person checks each one, then confirms or re-sends it.

A row is `unconfirmed` when the whole message went out but the server's final reply never came
(`DeliveryUnconfirmed`). It may have been delivered, so nothing re-sends it on its own. The
person looks for its Message-ID in the mail server's log (or asks the recipient) and then either
confirms it (it arrived: the row becomes `sent`) or re-sends it (it did not: back to `pending`
now, with the same Message-ID so a mail system that did get it can drop the copy). Both are
audited. Until then `monitor status` pages and the digest's delivery line counts them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import OutboxStatus
from monitor.errors import InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.store.models import OutboxMessage

CHECK_HINT = (
    "look for its Message-ID in the mail server's log, then `monitor outbox confirm ID` "
    "(it arrived) or `monitor outbox resend ID` (it did not)"
)


def count_unconfirmed(session: Session) -> int:
    return (
        session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.UNCONFIRMED))
        or 0
    )


def unconfirmed_problem(session: Session) -> str | None:
    """The `monitor status` problem while any email waits for a person's check, else None."""
    count = count_unconfirmed(session)
    if not count:
        return None
    return (
        f"{count} email(s) were sent but the mail server never confirmed them, so they may or "
        f"may not have arrived: {CHECK_HINT}"
    )


def confirm_delivered(session: Session, row_id: int, *, actor: str, now: datetime) -> OutboxMessage:
    """The person found that it arrived: the row becomes `sent` (at `now`, when it was checked)."""
    row = _unconfirmed_row(session, row_id)
    row.status, row.sent_at = OutboxStatus.SENT, now
    row.reason = f"delivery confirmed by {actor}"
    _audit(session, row, "outbox.confirm", actor, now)
    return row


def resend(session: Session, row_id: int, *, actor: str, now: datetime) -> OutboxMessage:
    """The person found that it did not arrive: queue it again now, with the same Message-ID."""
    row = _unconfirmed_row(session, row_id)
    row.status, row.next_attempt_at = OutboxStatus.PENDING, now
    row.claimed_by = row.claimed_until = None
    row.reason = f"re-sent by {actor} after a check"
    _audit(session, row, "outbox.resend", actor, now)
    return row


def _unconfirmed_row(session: Session, row_id: int) -> OutboxMessage:
    row = session.get(OutboxMessage, row_id)
    if row is None:
        raise NotFound(f"unknown outbox id {row_id}")
    if row.status is not OutboxStatus.UNCONFIRMED:
        raise InvalidInput(
            f"outbox {row_id} is {row.status.value}, not unconfirmed: only an email the server "
            "never confirmed can be confirmed or re-sent by hand"
        )
    return row


def _audit(session: Session, row: OutboxMessage, action: str, actor: str, now: datetime) -> None:
    record_change(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="outbox",
        entity_id=row.id,
        patient_id=row.patient_id,
        before={"status": OutboxStatus.UNCONFIRMED.value},
        after={"status": row.status.value, "message_id": row.message_id},
    )
