"""Mail health: one count of the outbox for `monitor status` and the digest's delivery line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from monitor.domain.vocabulary import OutboxStatus
from monitor.services.mail.digest import mail_problem
from monitor.services.mail.health import mail_health, mail_problems
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage

NOW = datetime(2026, 3, 20, 9, tzinfo=UTC)


def add_row(engine: Engine, key: str, status: OutboxStatus, **values: Any) -> None:
    row = {"message": "patient-tests-due", "created_at": NOW - timedelta(hours=2), **values}
    with unit_of_work(engine) as session:
        session.add(OutboxMessage(recipient="a@example.org", subject="s", body_text="b",
                                  message_id=f"<{key}@test>", dedupe_key=key, status=status,
                                  **row))  # fmt: skip


def add_troubled_outbox(engine: Engine) -> None:
    add_row(engine, "waiting", OutboxStatus.PENDING, attempts=0,
            created_at=NOW - timedelta(minutes=10))  # fmt: skip
    add_row(engine, "retrying", OutboxStatus.PENDING, attempts=2,
            first_failed_at=NOW - timedelta(minutes=90))  # fmt: skip
    add_row(engine, "failed-due", OutboxStatus.FAILED, attempts=5,
            failed_at=NOW - timedelta(hours=3))  # fmt: skip
    add_row(engine, "failed-digest", OutboxStatus.FAILED, message="staff-daily-digest",
            attempts=1, failed_at=NOW - timedelta(hours=1))  # fmt: skip
    add_row(engine, "failed-long-ago", OutboxStatus.FAILED, attempts=5,
            failed_at=NOW - timedelta(days=2))  # fmt: skip
    add_row(engine, "recovered", OutboxStatus.SENT, attempts=3,
            sent_at=NOW - timedelta(hours=5))  # fmt: skip
    add_row(engine, "sent-at-once", OutboxStatus.SENT, attempts=1,
            sent_at=NOW - timedelta(hours=5))  # fmt: skip
    add_row(engine, "unconfirmed", OutboxStatus.UNCONFIRMED, attempts=1)


def test_mail_health_counts_what_waits_fails_and_recovered(engine: Engine) -> None:
    add_troubled_outbox(engine)
    with unit_of_work(engine) as session:
        health = mail_health(session, NOW)
    assert (health.pending, health.retrying, health.recovered, health.unconfirmed) == (2, 1, 1, 1)
    assert health.oldest_pending_age_seconds == 2 * 3600
    assert health.failing_for_seconds == 90 * 60  # from the first failure, not the queueing
    assert health.failed_by_kind == {"patient-tests-due": 1, "staff-daily-digest": 1}
    assert health.failed == 2


def test_a_quiet_outbox_is_healthy(engine: Engine) -> None:
    add_row(engine, "sent", OutboxStatus.SENT, attempts=1, sent_at=NOW - timedelta(hours=1))
    with unit_of_work(engine) as session:
        health = mail_health(session, NOW)
        line = mail_problem(session, NOW)
    assert (health.pending, health.oldest_pending_age_seconds, health.failing_for_seconds) == (
        0,
        None,
        None,
    )
    assert (health.failed_by_kind, health.recovered, health.unconfirmed) == ({}, 0, 0)
    assert mail_problems(health) == []
    assert line is None


def test_status_and_digest_say_the_same_health_in_their_words(engine: Engine) -> None:
    add_troubled_outbox(engine)
    with unit_of_work(engine) as session:
        problems = mail_problems(mail_health(session, NOW))
        line = mail_problem(session, NOW)
    assert problems == [
        "email delivery has been failing for over an hour",
        "emails failed for good in the last 24 hours: 1 patient-tests-due, "
        "1 staff-daily-digest; see `monitor outbox` for the server's reply",
    ]
    assert line == (
        "Email delivery had problems: 1 message(s) waiting to be retried, 2 failed and 1 "
        "delivered late after retries in the last 24 hours. 1 message(s) were sent but never "
        "confirmed by the mail server and may not have arrived: an administrator checks them "
        "(`monitor outbox`)."
    )


def test_failing_for_an_hour_exactly_does_not_page_yet(engine: Engine) -> None:
    add_row(engine, "retrying", OutboxStatus.PENDING, attempts=1,
            first_failed_at=NOW - timedelta(hours=1))  # fmt: skip
    with unit_of_work(engine) as session:
        health = mail_health(session, NOW)
    assert health.failing_for_seconds == 3600
    assert mail_problems(health) == []
