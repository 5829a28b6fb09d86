"""`monitor outbox`'s list: every email decided, newest first, as plain rows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from monitor.domain.vocabulary import OutboxStatus
from monitor.services.mail.history import Email, outbox_list
from monitor.store.db import unit_of_work
from tests.services.test_mail_health import NOW, add_row


def test_newest_emails_come_newest_first_and_limit_keeps_the_newest(engine: Engine) -> None:
    for hours, key in ((3, "old"), (1, "new"), (2, "middle")):
        add_row(engine, key, OutboxStatus.PENDING, attempts=0,
                created_at=NOW - timedelta(hours=hours))  # fmt: skip
    with unit_of_work(engine) as session:
        every = outbox_list(session, limit=None)
        newest = outbox_list(session, limit=2)
    assert [entry.dedupe_key for entry in every] == ["new", "middle", "old"]
    assert [entry.dedupe_key for entry in newest] == ["new", "middle"]
    assert isinstance(every[0], Email)
    assert (every[0].status, every[0].recipient, every[0].created_at) == (
        OutboxStatus.PENDING,
        "a@example.org",
        NOW - timedelta(hours=1),
    )
