"""Is email getting out? One answer for `monitor status` and the nurses' daily digest.

Both used to count the outbox on their own. Now `mail_health` counts it once, as plain numbers,
and each says it in its own words: `monitor status` as JSON and pages (`mail_problems`), the
digest as its delivery line (`services.mail.digest.mail_problem`).

"Failing for" counts from a waiting row's first failed attempt (rows older than that column:
from when they were queued); "failed" means marked failed for good within the last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.services.mail.unconfirmed import count_unconfirmed
from monitor.store.models import OutboxMessage

FAILED_WITHIN = timedelta(days=1)
MAIL_FAILING_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class MailHealth:
    """The outbox at `now`: what waits, what keeps failing, what failed or recovered lately."""

    pending: int
    oldest_pending_age_seconds: int | None
    retrying: int  # pending after at least one failed attempt
    failing_for_seconds: int | None  # since the first failure of the oldest retrying row
    failed_by_kind: dict[str, int]  # failed for good in the last day, in kind order
    recovered: int  # sent after retries in the last day
    unconfirmed: int  # sent, never confirmed by the server: a person checks them

    @property
    def failed(self) -> int:
        return sum(self.failed_by_kind.values())


def mail_health(session: Session, now: datetime) -> MailHealth:
    """Count the outbox as of `now` (see the module docstring for what each number means)."""
    # A letter waits for `monitor letters`, not for a transport: it says nothing about delivery.
    pending = and_(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.channel != Channel.LETTER
    )
    retrying = (pending, OutboxMessage.attempts > 0)
    first_failure = func.coalesce(OutboxMessage.first_failed_at, OutboxMessage.created_at)
    oldest = session.scalar(select(func.min(OutboxMessage.created_at)).where(pending))
    failing_since = session.scalar(select(func.min(first_failure)).where(*retrying))
    return MailHealth(
        pending=session.scalar(select(func.count()).where(pending)) or 0,
        oldest_pending_age_seconds=_age(oldest, now),
        retrying=session.scalar(select(func.count()).where(*retrying)) or 0,
        failing_for_seconds=_age(failing_since, now),
        failed_by_kind=_failed_by_kind(session, now),
        recovered=_recovered(session, now),
        unconfirmed=count_unconfirmed(session),
    )


def _failed_by_kind(session: Session, now: datetime) -> dict[str, int]:
    """Messages marked failed for good in the last day, per message kind (in name order)."""
    rows = session.execute(
        select(OutboxMessage.message, func.count())
        .where(OutboxMessage.status == OutboxStatus.FAILED, failed_since(now - FAILED_WITHIN))
        .group_by(OutboxMessage.message)
        .order_by(OutboxMessage.message)
    )
    return {message: count for message, count in rows}


def _recovered(session: Session, now: datetime) -> int:
    """Messages delivered in the last day after at least one failed attempt."""
    return (
        session.scalar(
            select(func.count()).where(
                OutboxMessage.status == OutboxStatus.SENT,
                OutboxMessage.attempts > 1,
                OutboxMessage.sent_at >= now - FAILED_WITHIN,
            )
        )
        or 0
    )


def failed_since(since: datetime) -> ColumnElement[bool]:
    """Rows marked failed at or after `since` (rows older than the column: by creation)."""
    return func.coalesce(OutboxMessage.failed_at, OutboxMessage.created_at) >= since


def _age(since: datetime | None, now: datetime) -> int | None:
    """Whole seconds from `since` to `now`, or None when there is nothing to age."""
    if since is None:
        return None
    if since.tzinfo is None:  # SQLite aggregates come back as naive UTC
        since = since.replace(tzinfo=UTC)
    return int((now - since).total_seconds())


def mail_problems(health: MailHealth) -> list[str]:
    """The reasons `monitor status` pages about mail, in its order (unconfirmed mail aside:
    `services.mail.unconfirmed.unconfirmed_problem` says that one)."""
    found = [_failing_problem(health), _failed_problem(health)]
    return [problem for problem in found if problem is not None]


def _failing_problem(health: MailHealth) -> str | None:
    failing = health.failing_for_seconds
    if failing is not None and failing > MAIL_FAILING_FOR.total_seconds():
        return "email delivery has been failing for over an hour"
    return None


def _failed_problem(health: MailHealth) -> str | None:
    """Any message the mail server refused for good in the last day, named by kind."""
    if not health.failed_by_kind:
        return None
    kinds = ", ".join(f"{count} {kind}" for kind, count in health.failed_by_kind.items())
    return (
        f"emails failed for good in the last 24 hours: {kinds}; "
        "see `monitor outbox` for the server's reply"
    )
