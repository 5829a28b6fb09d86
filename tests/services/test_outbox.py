"""The outbox: queueing once per dedupe key, claiming, backoff, giving up, and crash recovery."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, select, update

from monitor.domain.vocabulary import OutboxStatus
from monitor.notify.transports import DeliveryError, DeliveryUnconfirmed
from monitor.services.mail.outbox import (
    MAX_ATTEMPTS,
    DeliveryCounts,
    Queued,
    claim_batch,
    deliver_claimed,
    drain_outbox,
    queue_email,
    record_skipped,
    retry_delay,
)
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SENDER = "monitor@clinic.example"


class Recording:
    """A transport that keeps what it is given, or raises the error it was given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.error = error

    def send(self, message: EmailMessage) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(message)


def queue(engine: Engine, key: str, **overrides: object) -> Queued | None:
    values: dict[str, object] = {
        "message": "patient-tests-due",
        "recipient": "pat@example.org",
        "subject": "Reminder from MS Clinic",
        "body_text": "Your tests are due.",
        "body_html": "<p>Your tests are due.</p>",
        "calendar": None,
        "dedupe_key": key,
        "now": NOW,
        "mail_domain": "clinic.example",
    }
    values.update(overrides)
    with unit_of_work(engine) as session:
        return queue_email(session, **values)  # type: ignore[arg-type]


def rows(engine: Engine) -> list[OutboxMessage]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def drain(engine: Engine, transport: Recording, at: datetime = NOW) -> DeliveryCounts:
    return drain_outbox(engine, transport, now_fn=lambda: at, sender=SENDER)


# --- queueing --------------------------------------------------------------------------------


def test_queue_email_adds_a_pending_row_with_a_message_id_on_the_mail_domain(
    engine: Engine,
) -> None:
    row = queue(engine, "patient-tests-due:1:2026-11-27", patient_id=None, site="north")

    assert row is not None
    (stored,) = rows(engine)
    assert stored.id == row.id
    assert stored.status == OutboxStatus.PENDING
    assert (stored.attempts, stored.next_attempt_at, stored.claimed_by) == (0, None, None)
    assert stored.created_at == NOW
    assert stored.site == "north"
    assert stored.message_id.startswith("<") and stored.message_id.endswith("@clinic.example>")


def test_the_same_dedupe_key_queues_nothing_the_second_time(engine: Engine) -> None:
    first = queue(engine, "digest:main:2026-11-27")
    second = queue(engine, "digest:main:2026-11-27", subject="another")

    assert first is not None
    assert second is None
    assert [r.subject for r in rows(engine)] == ["Reminder from MS Clinic"]


def test_the_same_dedupe_key_twice_in_one_transaction_queues_one_row(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        args = {
            "message": "m",
            "recipient": "a@example.org",
            "subject": "s",
            "body_text": "t",
            "body_html": None,
            "calendar": None,
            "now": NOW,
            "mail_domain": "clinic.example",
        }
        first = queue_email(session, dedupe_key="k", **args)  # type: ignore[arg-type]
        second = queue_email(session, dedupe_key="k", **args)  # type: ignore[arg-type]
    assert first is not None and second is None
    assert len(rows(engine)) == 1


def test_message_ids_are_unique_and_never_ask_for_the_host_name(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fqdn(*_: object) -> str:
        raise AssertionError("socket.getfqdn() must not be called")

    monkeypatch.setattr(socket, "getfqdn", no_fqdn)
    ids = {row.message_id for key in "abc" if (row := queue(engine, key)) is not None}
    assert len(ids) == 3


def test_a_bad_mail_domain_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="mail domain"):
        queue(engine, "k", mail_domain="clinic.example>")


def test_record_skipped_keeps_the_reason_once(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        row = record_skipped(
            session,
            message="patient-tests-due",
            recipient="",
            reason="no email address",
            dedupe_key="patient-tests-due:7:2026-11-27",
            now=NOW,
        )
        again = record_skipped(
            session,
            message="patient-tests-due",
            recipient="",
            reason="no email address",
            dedupe_key="patient-tests-due:7:2026-11-27",
            now=NOW,
        )
    assert row is not None and again is None
    (stored,) = rows(engine)
    assert (stored.status, stored.reason, stored.subject) == (
        OutboxStatus.SKIPPED,
        "no email address",
        "",
    )


def test_skipped_rows_are_never_sent(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        record_skipped(
            session, message="m", recipient="", reason="opted out of email", dedupe_key="k", now=NOW
        )
    transport = Recording()

    assert drain(engine, transport) == DeliveryCounts()
    assert transport.sent == []
    assert rows(engine)[0].status == OutboxStatus.SKIPPED


# --- delivering ------------------------------------------------------------------------------


def test_drain_sends_every_pending_row_once_with_its_message_id(engine: Engine) -> None:
    queued = [queue(engine, f"k{i}") for i in range(3)]
    transport = Recording()

    assert drain(engine, transport) == DeliveryCounts(sent=3)
    assert drain(engine, transport) == DeliveryCounts()

    assert [m["Message-ID"] for m in transport.sent] == [r.message_id for r in queued if r]
    assert all(m["From"] == SENDER for m in transport.sent)
    for row in rows(engine):
        assert (row.status, row.attempts, row.sent_at, row.claimed_until) == (
            OutboxStatus.SENT,
            1,
            NOW,
            None,
        )


def test_drain_works_through_several_batches(engine: Engine) -> None:
    for i in range(7):
        queue(engine, f"k{i}")
    transport = Recording()

    counts = drain_outbox(engine, transport, now_fn=lambda: NOW, sender=SENDER, batch=3)

    assert counts == DeliveryCounts(sent=7)
    assert len(transport.sent) == 7


def test_a_temporary_failure_is_retried_with_backoff(engine: Engine) -> None:
    queue(engine, "k")
    failing = Recording(DeliveryError("451 4.3.0 try later", permanent=False, code=451))

    assert drain(engine, failing) == DeliveryCounts(retried=1)
    (row,) = rows(engine)
    assert (row.status, row.attempts, row.claimed_by) == (OutboxStatus.PENDING, 1, None)
    assert row.next_attempt_at == NOW + timedelta(minutes=1)
    assert row.last_error == "451 4.3.0 try later"

    assert drain(engine, failing, at=NOW + timedelta(seconds=59)) == DeliveryCounts()
    assert drain(engine, failing, at=NOW + timedelta(minutes=1)) == DeliveryCounts(retried=1)
    (row,) = rows(engine)
    assert row.attempts == 2
    assert row.next_attempt_at == NOW + timedelta(minutes=1 + 2)

    working = Recording()
    assert drain(engine, working, at=NOW + timedelta(minutes=3)) == DeliveryCounts(sent=1)
    (row,) = rows(engine)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 3)


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=2)),
        (3, timedelta(minutes=4)),
        (9, timedelta(minutes=256)),
        (10, timedelta(hours=6)),
        (500, timedelta(hours=6)),
    ],
)
def test_backoff_doubles_up_to_six_hours(attempts: int, delay: timedelta) -> None:
    assert retry_delay(attempts) == delay


def test_a_temporary_failure_on_the_last_attempt_fails_for_good(engine: Engine) -> None:
    queue(engine, "k")
    with unit_of_work(engine) as session:
        session.execute(update(OutboxMessage).values(attempts=MAX_ATTEMPTS - 1))

    failing = Recording(DeliveryError("421 closing", permanent=False, code=421))
    assert drain(engine, failing) == DeliveryCounts(failed=1)
    (row,) = rows(engine)
    assert (row.status, row.attempts, row.last_error) == (
        OutboxStatus.FAILED,
        MAX_ATTEMPTS,
        "421 closing",
    )


def test_a_permanent_failure_fails_at_once(engine: Engine) -> None:
    queue(engine, "k")
    failing = Recording(DeliveryError("550 5.1.1 no such user", permanent=True, code=550))

    assert drain(engine, failing) == DeliveryCounts(failed=1)
    assert drain(engine, failing, at=NOW + timedelta(days=1)) == DeliveryCounts()
    (row,) = rows(engine)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 1)


def test_an_unexpected_transport_error_is_retried(engine: Engine) -> None:
    queue(engine, "k")

    assert drain(engine, Recording(RuntimeError("bug"))) == DeliveryCounts(retried=1)
    (row,) = rows(engine)
    assert row.status == OutboxStatus.PENDING
    assert row.last_error == "unexpected error: RuntimeError"


def test_a_message_that_cannot_be_built_fails_without_stopping_the_others(
    engine: Engine,
) -> None:
    queue(engine, "bad", subject="line one\nline two")
    good = queue(engine, "good")
    transport = Recording()

    assert drain(engine, transport) == DeliveryCounts(sent=1, failed=1)
    assert [m["Message-ID"] for m in transport.sent] == [good.message_id if good else None]
    bad_row = rows(engine)[0]
    assert bad_row.status == OutboxStatus.FAILED
    assert bad_row.last_error == "cannot build the message: ValueError"


# --- claims ----------------------------------------------------------------------------------


def test_claim_takes_the_oldest_due_rows_up_to_the_limit(engine: Engine) -> None:
    ids = [row.id for i in range(4) if (row := queue(engine, f"k{i}")) is not None]
    with unit_of_work(engine) as session:  # the second row waits for its retry time
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == ids[1])
            .values(next_attempt_at=NOW + timedelta(minutes=1))
        )

    claimed = claim_batch(engine, now=NOW, owner="a", limit=2)

    assert claimed == [ids[0], ids[2]]
    assert claim_batch(engine, now=NOW, owner="b", limit=10) == [ids[3]]
    assert claim_batch(engine, now=NOW, owner="c", limit=10) == []
    by_id = {row.id: row for row in rows(engine)}
    assert by_id[ids[0]].claimed_by == "a"
    assert by_id[ids[0]].claimed_until == NOW + timedelta(minutes=5)
    assert by_id[ids[3]].claimed_by == "b"
    assert by_id[ids[1]].status == OutboxStatus.PENDING


def test_an_expired_claim_is_reclaimed_and_resent_with_the_same_message_id(
    engine: Engine,
) -> None:
    row = queue(engine, "k")
    assert row is not None
    assert claim_batch(engine, now=NOW, owner="crashed-sender") == [row.id]
    # ... the crashed sender may have handed the message over before dying; nothing was recorded.
    transport = Recording()

    assert drain(engine, transport, at=NOW + timedelta(minutes=4)) == DeliveryCounts()
    assert drain(engine, transport, at=NOW + timedelta(minutes=6)) == DeliveryCounts(sent=1)

    (message,) = transport.sent
    assert message["Message-ID"] == row.message_id
    (stored,) = rows(engine)
    assert stored.status == OutboxStatus.SENT
    assert stored.claimed_by != "crashed-sender"


def test_an_outcome_is_not_recorded_for_a_claim_someone_else_took_over(engine: Engine) -> None:
    row = queue(engine, "k")
    assert row is not None
    ids = claim_batch(engine, now=NOW, owner="slow")

    class TakenOver(Recording):
        def send(self, message: EmailMessage) -> None:
            super().send(message)
            with unit_of_work(engine) as session:  # the lease ran out; another sender took it
                session.execute(update(OutboxMessage).values(claimed_by="other"))

    deliver_claimed(engine, ids, TakenOver(), now_fn=lambda: NOW, owner="slow", sender=SENDER)

    (stored,) = rows(engine)
    assert (stored.status, stored.claimed_by, stored.attempts) == (
        OutboxStatus.SENDING,
        "other",
        0,
    )


def test_a_row_whose_claim_was_lost_before_sending_is_left_alone(engine: Engine) -> None:
    row = queue(engine, "k")
    assert row is not None
    ids = claim_batch(engine, now=NOW, owner="slow")
    later = NOW + timedelta(minutes=6)
    assert claim_batch(engine, now=later, owner="fast") == ids
    transport = Recording()

    counts = deliver_claimed(engine, ids, transport, now_fn=lambda: later, owner="slow")

    assert counts == DeliveryCounts()
    assert transport.sent == []
    assert rows(engine)[0].claimed_by == "fast"


def test_the_claim_is_renewed_just_before_each_send(engine: Engine) -> None:
    for key in ("a", "b"):
        queue(engine, key)
    ids = claim_batch(engine, now=NOW, owner="me")
    clock = iter([NOW + timedelta(minutes=m) for m in (4, 4, 8, 8)])
    leases: list[datetime | None] = []

    class Watching(Recording):
        def send(self, message: EmailMessage) -> None:
            super().send(message)
            leases.append(
                next(r.claimed_until for r in rows(engine) if r.message_id == message["Message-ID"])
            )

    counts = deliver_claimed(engine, ids, Watching(), now_fn=lambda: next(clock), owner="me")

    assert counts == DeliveryCounts(sent=2)
    assert leases == [NOW + timedelta(minutes=9), NOW + timedelta(minutes=13)]


def test_a_slow_send_keeps_the_rest_of_the_batch_claimed_for_the_transports_longest_send(
    engine: Engine,
) -> None:
    for key in ("a", "b"):
        queue(engine, key)
    ids = claim_batch(engine, now=NOW, owner="me")  # a 5-minute lease
    during_first_send: list[list[int]] = []

    class Slow(Recording):
        longest_send = timedelta(minutes=20)

        def send(self, message: EmailMessage) -> None:
            super().send(message)
            if len(self.sent) == 1:  # 12 minutes into the first send, another sender looks
                later = NOW + timedelta(minutes=12)
                during_first_send.append(claim_batch(engine, now=later, owner="other"))

    counts = deliver_claimed(engine, ids, Slow(), now_fn=lambda: NOW, owner="me")

    assert counts == DeliveryCounts(sent=2)
    assert during_first_send == [[]]  # neither row could be taken over while "me" was at work
    assert {row.claimed_by for row in rows(engine)} == {"me"}


def test_an_unconfirmed_delivery_is_recorded_and_never_claimed_again(engine: Engine) -> None:
    row = queue(engine, "k")
    assert row is not None
    transport = Recording(DeliveryUnconfirmed("no reply after the message was sent"))

    assert drain(engine, transport, at=NOW) == DeliveryCounts(unconfirmed=1)
    assert drain(engine, Recording(), at=NOW + timedelta(days=30)) == DeliveryCounts()

    (stored,) = rows(engine)
    assert (stored.status, stored.attempts, stored.claimed_by, stored.claimed_until) == (
        OutboxStatus.UNCONFIRMED,
        1,
        None,
        None,
    )
    assert stored.last_error == "no reply after the message was sent"
