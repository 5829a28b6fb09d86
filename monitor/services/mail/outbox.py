"""The outbox: queue rendered emails in the deciding transaction, deliver them later (SPEC §5).

Queueing is idempotent: `dedupe_key` is unique and the insert is `ON CONFLICT DO NOTHING`, so
deciding the same thing twice (or two processes racing) queues one row.

Delivery is claim, send, record:
- `claim_batch` moves claimable rows (pending and due, or `sending` with an expired claim left by a
  crashed sender) to `sending` with this sender's name and a lease, in one short transaction, by a
  conditional UPDATE (plus `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's `BEGIN IMMEDIATE`
  serialises writers). Two senders never hold the same row.
- `deliver_claimed` renews the claim just before each send, sends outside any transaction, then
  records the outcome only if the row is still ours: sent, back to pending with exponential
  backoff (temporary failure), failed (permanent failure, or too many attempts), or unconfirmed
  (the whole message went out but the server's reply never came: a person checks it, it is never
  re-sent on its own). Each renewal covers the rest of the batch too, for the longest a send can
  take (`longest_send` of the transport, when it has one), so a slow server cannot make the
  claims of the rows still waiting run out under a sender that is alive.
The one duplicate window is a crash after the server accepted a message and before `sent` was
written: the row's claim expires and it is sent again with the same Message-ID.

Rows carry a `channel`. A drain claims email, and SMS when it is given an SMS transport
(`drained_channels`); an SMS row goes through `notify.sms` with the same claims, backoff and
outcomes, and is looked up at Notify before each send, so it has no duplicate window. Letters
are never drained: `services.mail.letters` claims them the same way to print them.

Logs carry outbox ids and reply codes only, never addresses, names or bodies.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.config import EmailConfig
from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.notify.mime import build_message, new_message_id
from monitor.notify.sms import Sms, SmsTransport, notify_reference
from monitor.notify.transports import DeliveryError, DeliveryUnconfirmed, Transport
from monitor.store.models import OutboxMessage

log = logging.getLogger("monitor.notify")

MAX_ATTEMPTS = 10
DEFAULT_LEASE = timedelta(minutes=5)
CLAIM_MARGIN = timedelta(minutes=1)
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(hours=6)
_ERROR_LIMIT = 2000
DEFAULT_SENDER: str = EmailConfig().from_


@dataclass
class DeliveryCounts:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unconfirmed: int = 0

    def __iadd__(self, other: DeliveryCounts) -> DeliveryCounts:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.unconfirmed += other.unconfirmed
        return self


# --- queueing (inside the caller's transaction) ---------------------------------------------


def queue_email(
    session: Session,
    *,
    message: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    calendar: str | None,
    dedupe_key: str,
    now: datetime,
    mail_domain: str,
    patient_id: int | None = None,
    site: str | None = None,
    run_on: date | None = None,
) -> Queued | None:
    """Queue one email for delivery (its id and Message-ID); None (and nothing inserted) if
    `dedupe_key` exists."""
    return _insert_once(
        session,
        message=message,
        recipient=recipient,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        calendar=calendar,
        message_id=new_message_id(mail_domain),
        dedupe_key=dedupe_key,
        status=OutboxStatus.PENDING,
        reason=None,
        created_at=now,
        patient_id=patient_id,
        site=site,
        run_on=run_on,
    )


def record_skipped(
    session: Session,
    *,
    message: str,
    recipient: str,
    reason: str,
    dedupe_key: str,
    now: datetime,
    patient_id: int | None = None,
    site: str | None = None,
    run_on: date | None = None,
    subject: str = "",
    body_text: str = "",
    channel: Channel = Channel.EMAIL,
) -> Queued | None:
    """Record an email (letter, SMS) that was decided but not sent, with the reason (SPEC §5)."""
    return _insert_once(
        session,
        channel=channel,
        message=message,
        recipient=recipient,
        subject=subject,
        body_text=body_text,
        body_html=None,
        calendar=None,
        message_id="",
        dedupe_key=dedupe_key,
        status=OutboxStatus.SKIPPED,
        reason=reason,
        created_at=now,
        patient_id=patient_id,
        site=site,
        run_on=run_on,
    )


def queue_other_channel(
    session: Session,
    *,
    channel: Channel,
    message: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    message_id: str,
    dedupe_key: str,
    now: datetime,
    patient_id: int | None = None,
    site: str | None = None,
    run_on: date | None = None,
) -> Queued | None:
    """Queue a letter (printed by `monitor letters`) or an SMS (sent by the drain); None if
    `dedupe_key` exists. `message_id` is the SMS's reference token, "" for a letter."""
    if channel is Channel.EMAIL:
        raise ValueError("an email is queued by queue_email")
    return _insert_once(
        session,
        channel=channel,
        message=message,
        recipient=recipient,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        calendar=None,
        message_id=message_id,
        dedupe_key=dedupe_key,
        status=OutboxStatus.PENDING,
        reason=None,
        created_at=now,
        patient_id=patient_id,
        site=site,
        run_on=run_on,
    )


KEYS_PER_QUERY = 500


def queued_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of `keys` are already in the outbox (any status): a message under one of them
    need not be built or rendered again, as its insert would do nothing."""
    found: set[str] = set()
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = list(keys[start : start + KEYS_PER_QUERY])
        found.update(
            session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(chunk))
            )
        )
    return found


@dataclass(frozen=True)
class Queued:
    """The row a queueing call inserted, as its caller needs it: the id (a notice links to it)
    and the Message-ID. Not the ORM row: reading a digest's megabytes of HTML back and building
    an object of it cost several times the insert."""

    id: int
    message_id: str


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, its values given at
    execution: one Core statement for every row, compiled once (values built into the
    statement made each insert compile its own; the ORM's insert of the entity, returning the
    whole row, cost five times this one)."""
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    table: Table = OutboxMessage.__table__  # type: ignore[assignment]
    return insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)


def _insert_once(session: Session, **values: Any) -> Queued | None:
    values.update(attempts=0, next_attempt_at=None, claimed_until=None, claimed_by=None)
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        session.flush()  # what an ORM statement's autoflush did: pending changes go first
        row_id = session.execute(_insert_statement(dialect), values).scalar_one_or_none()
        return None if row_id is None else Queued(row_id, values["message_id"])
    row = OutboxMessage(**values)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        if session.scalar(select(OutboxMessage.id).filter_by(dedupe_key=values["dedupe_key"])):
            return None
        raise
    return Queued(row.id, row.message_id)


# --- claiming ----------------------------------------------------------------------------------


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            OutboxMessage.status == OutboxStatus.PENDING,
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        ),
        and_(
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claimed_until < now,
        ),
    )


def claim_batch(
    engine: Engine,
    *,
    now: datetime,
    owner: str,
    limit: int = 50,
    lease: timedelta = DEFAULT_LEASE,
    channels: Sequence[Channel] = (Channel.EMAIL,),
    also: ColumnElement[bool] | None = None,
) -> list[int]:
    """Claim up to `limit` rows for `owner` until `now + lease`; returns their ids, oldest first.

    Only rows of `channels` (the drain: email, and SMS when it can send them; `monitor
    letters`: letters) and, with `also`, rows meeting it too.
    """
    until = now + lease
    wanted: ColumnElement[bool] = OutboxMessage.channel.in_(list(channels))
    if also is not None:
        wanted = and_(wanted, also)
    with engine.begin() as connection:
        candidates = (
            connection.execute(
                select(OutboxMessage.id)
                .where(_claimable(now), wanted)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        if not candidates:
            return []
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), _claimable(now))
            .values(status=OutboxStatus.SENDING, claimed_by=owner, claimed_until=until)
        )
        claimed = connection.execute(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.id.in_(candidates),
                OutboxMessage.status == OutboxStatus.SENDING,
                OutboxMessage.claimed_by == owner,
                OutboxMessage.claimed_until == until,
            )
            .order_by(OutboxMessage.id)
        )
        return list(claimed.scalars())


def _ours(row_id: int, owner: str) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.id == row_id,
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claimed_by == owner,
    )


def _renew_claims(
    engine: Engine, row_ids: Sequence[int], owner: str, until: datetime
) -> OutboxMessage | None:
    """Extend our claims on `row_ids` right before sending the first; None if it is not ours."""
    row_id = row_ids[0]
    with Session(engine, expire_on_commit=False) as session, session.begin():
        connection = session.connection()
        renewed = connection.execute(
            update(OutboxMessage).where(_ours(row_id, owner)).values(claimed_until=until)
        )
        if len(row_ids) > 1:  # the rest of the batch waits behind this send
            connection.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(row_ids[1:]),
                    OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.claimed_by == owner,
                    OutboxMessage.claimed_until < until,
                )
                .values(claimed_until=until)
            )
        if renewed.rowcount != 1:
            return None
        return session.get(OutboxMessage, row_id)


def claim_span(transport: Transport | SmsTransport | None, lease: timedelta) -> timedelta:
    """How long a claim renewed before a send must last: `lease`, or the transport's longest send.

    `longest_send` is optional on a transport (only SMTP can take minutes), hence the lookup.
    """
    longest = getattr(transport, "longest_send", None)
    if isinstance(longest, timedelta):
        return max(lease, longest + CLAIM_MARGIN)
    return lease


# --- delivering --------------------------------------------------------------------------------


def deliver_claimed(
    engine: Engine,
    ids: Sequence[int],
    transport: Transport,
    *,
    now_fn: Callable[[], datetime],
    owner: str,
    sender: str = DEFAULT_SENDER,
    lease: timedelta = DEFAULT_LEASE,
    sms: SmsTransport | None = None,
) -> DeliveryCounts:
    """Send each claimed row (outside any transaction) and record the outcome.

    `sender` is the From address: pass `config.email.from_` (the default is the embedded one).
    An SMS row goes through `sms` (claimed only when there is one: `drained_channels`).
    """
    counts = DeliveryCounts()
    span = max(claim_span(transport, lease), claim_span(sms, lease))
    for index, row_id in enumerate(ids):
        row = _renew_claims(engine, ids[index:], owner, now_fn() + span)
        if row is None:
            log.warning("outbox %d: claim lost before sending; left alone", row_id)
            continue
        if row.channel is Channel.SMS:
            outcome = _attempt_sms(row, sms)
        else:
            outcome = _attempt(row, transport, sender)
        _record(engine, row, outcome, now_fn(), owner, counts)
    return counts


def _attempt(row: OutboxMessage, transport: Transport, sender: str) -> DeliveryError | None:
    """Build and send one row; None when the transport took it."""
    try:
        email = build_message(
            sender=sender,
            recipient=row.recipient,
            subject=row.subject,
            body_text=row.body_text,
            body_html=row.body_html,
            calendar=row.calendar,
            message_id=row.message_id,
            date=row.created_at,
        )
    except (ValueError, TypeError, LookupError) as error:
        log.exception("outbox %d: the message cannot be built", row.id)
        return DeliveryError(f"cannot build the message: {type(error).__name__}", permanent=True)
    try:
        transport.send(email)
    except DeliveryError as error:
        return error
    except Exception as error:
        log.exception("outbox %d: unexpected error from the transport", row.id)
        return DeliveryError(f"unexpected error: {type(error).__name__}", permanent=False)
    return None


def _attempt_sms(row: OutboxMessage, sms: SmsTransport | None) -> DeliveryError | None:
    """Send one SMS row (the transport first asks Notify whether it has it: never twice)."""
    if sms is None:
        return DeliveryError("no SMS transport is set up ([sms] enabled)", permanent=False)
    message = Sms(
        phone=row.recipient, text=row.body_text, reference=notify_reference(row.id, row.message_id)
    )
    try:
        sms.send_sms(message)
    except DeliveryError as error:
        return error
    except Exception as error:
        log.exception("outbox %d: unexpected error from the SMS transport", row.id)
        return DeliveryError(f"unexpected error: {type(error).__name__}", permanent=False)
    return None


def drained_channels(sms: SmsTransport | None) -> tuple[Channel, ...]:
    """What a drain claims: email, and SMS when it has an SMS transport; never letters."""
    return (Channel.EMAIL, Channel.SMS) if sms is not None else (Channel.EMAIL,)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, at most 6 hours."""
    exponent = min(max(attempts - 1, 0), 20)
    return min(MAX_RETRY_DELAY, FIRST_RETRY * (1 << exponent))


def _record(
    engine: Engine,
    row: OutboxMessage,
    outcome: DeliveryError | None,
    now: datetime,
    owner: str,
    counts: DeliveryCounts,
) -> None:
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "claimed_until": None}
    if outcome is not None and row.first_failed_at is None:
        values["first_failed_at"] = now
    if outcome is None:
        values.update(status=OutboxStatus.SENT, sent_at=now)
        counts.sent += 1
        log.info("outbox %d sent (attempt %d)", row.id, attempts)
    elif isinstance(outcome, DeliveryUnconfirmed):
        values.update(
            status=OutboxStatus.UNCONFIRMED, claimed_by=None, last_error=str(outcome)[:_ERROR_LIMIT]
        )
        counts.unconfirmed += 1
        log.warning(
            "outbox %d: sent but not confirmed by the server (attempt %d); not re-sent, a person "
            "must check it",
            row.id,
            attempts,
        )
    elif outcome.permanent or attempts >= MAX_ATTEMPTS:
        values.update(
            status=OutboxStatus.FAILED, failed_at=now, last_error=str(outcome)[:_ERROR_LIMIT]
        )
        counts.failed += 1
        log.warning(
            "outbox %d failed for good (attempt %d, code %s)", row.id, attempts, outcome.code
        )
    else:
        next_at = now + retry_delay(attempts)
        values.update(
            status=OutboxStatus.PENDING,
            claimed_by=None,
            next_attempt_at=next_at,
            last_error=str(outcome)[:_ERROR_LIMIT],
        )
        counts.retried += 1
        log.warning(
            "outbox %d will be retried (attempt %d, code %s)", row.id, attempts, outcome.code
        )
    with engine.begin() as connection:
        result = connection.execute(
            update(OutboxMessage).where(_ours(row.id, owner)).values(values)
        )
    if result.rowcount != 1:
        log.warning("outbox %d: claim lost while sending; outcome not recorded", row.id)


def default_owner() -> str:
    """A name for this sender that no other process shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def drain_outbox(
    engine: Engine,
    transport: Transport,
    *,
    now_fn: Callable[[], datetime],
    owner: str | None = None,
    sender: str = DEFAULT_SENDER,
    batch: int = 50,
    lease: timedelta = DEFAULT_LEASE,
    sms: SmsTransport | None = None,
) -> DeliveryCounts:
    """Claim and deliver until nothing is claimable now; returns what happened.

    Emails go through `transport`, text messages through `sms` (left pending without one);
    letters wait for `monitor letters`.
    """
    owner = owner or default_owner()
    counts = DeliveryCounts()
    channels = drained_channels(sms)
    while ids := claim_batch(
        engine, now=now_fn(), owner=owner, limit=batch, lease=lease, channels=channels
    ):
        counts += deliver_claimed(
            engine, ids, transport, now_fn=now_fn, owner=owner, sender=sender, lease=lease,
            sms=sms,
        )  # fmt: skip
    return counts
