"""Two senders draining one outbox at once, each with its own engine: every row goes out once.

Runs on SQLite (writers serialised by BEGIN IMMEDIATE) and PostgreSQL (FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TypeVar

from sqlalchemy import Engine, func, select

from monitor.domain.vocabulary import OutboxStatus
from monitor.services.mail.outbox import DeliveryCounts, claim_batch, drain_outbox, queue_email
from monitor.store.db import make_engine, unit_of_work
from monitor.store.models import OutboxMessage

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
ROWS = 200
T = TypeVar("T")


class CountingTransport:
    """Counts every Message-ID it is handed, from any thread."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.senders: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        time.sleep(0.0005)  # let the other sender interleave
        with self._lock:
            self.counts[str(message["Message-ID"])] += 1
            self.senders.setdefault(threading.current_thread().name, set()).add(
                str(message["Message-ID"])
            )


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def fill_outbox(engine: Engine, rows: int) -> set[str]:
    ids = set()
    with unit_of_work(engine) as session:
        for i in range(rows):
            row = queue_email(
                session,
                message="patient-tests-due",
                recipient=f"p{i}@example.org",
                subject="Reminder from MS Clinic",
                body_text="Your tests are due.",
                body_html=None,
                calendar=None,
                dedupe_key=f"k{i}",
                now=NOW,
                mail_domain="clinic.example",
            )
            assert row is not None
            ids.add(row.message_id)
    return ids


def in_two_threads(url: str, work: Callable[[Engine, str], T]) -> list[T]:
    """Run `work(own engine, name)` in two threads that start together."""
    barrier = threading.Barrier(2)

    def run(name: str) -> T:
        engine = make_engine(url)
        try:
            threading.current_thread().name = name
            barrier.wait(timeout=30)
            return work(engine, name)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run, name) for name in ("sender-a", "sender-b")]
        return [future.result(timeout=120) for future in futures]


def test_two_senders_send_every_row_exactly_once(engine: Engine) -> None:
    message_ids = fill_outbox(engine, ROWS)
    transport = CountingTransport()

    results = in_two_threads(
        url_of(engine),
        lambda own, name: drain_outbox(
            own, transport, now_fn=lambda: NOW, owner=name, batch=7, sender="m@clinic.example"
        ),
    )

    assert set(transport.counts) == message_ids
    assert set(transport.counts.values()) == {1}
    assert sum(r.sent for r in results) == ROWS
    assert all(r == DeliveryCounts(sent=r.sent) for r in results)
    with unit_of_work(engine) as session:
        statuses = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    assert dict(statuses) == {OutboxStatus.SENT: ROWS}


def test_two_concurrent_claims_never_overlap(engine: Engine) -> None:
    fill_outbox(engine, 60)

    def claim_all(own: Engine, name: str) -> list[int]:
        claimed: list[int] = []
        while batch := claim_batch(own, now=NOW, owner=name, limit=5):
            claimed.extend(batch)
        return claimed

    first, second = in_two_threads(url_of(engine), claim_all)

    assert not set(first) & set(second)
    assert len(first) + len(second) == 60


def test_two_processes_queueing_the_same_key_make_one_row(engine: Engine) -> None:
    def queue_same(own: Engine, name: str) -> bool:
        with unit_of_work(own) as session:
            row = queue_email(
                session,
                message="staff-daily-digest",
                recipient="nurses@clinic.example",
                subject=f"digest from {name}",
                body_text="All clear.",
                body_html=None,
                calendar=None,
                dedupe_key="staff-daily-digest:main:2026-11-27",
                now=NOW,
                mail_domain="clinic.example",
            )
            time.sleep(0.05)  # hold the transaction open while the other one tries
        return row is not None

    outcomes = in_two_threads(url_of(engine), queue_same)

    assert sorted(outcomes) == [False, True]
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
