"""Text messages through the outbox: the same guarantees as email (claim-by-update, retry with
backoff on 429, 5xx and timeouts, failed on any other 4xx, never sent twice), delivered by
Notify's client to a local server that speaks Notify's endpoints; one drain delivers emails
and text messages and leaves letters for `monitor letters` (issue 14 item 4)."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, select

from monitor.config import SmsConfig
from monitor.daemon import Daemon
from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.notify.gov_notify import NotifySmsTransport
from monitor.services.mail.daily import run_daily
from monitor.services.mail.outbox import drain_outbox, queue_other_channel, retry_delay
from monitor.services.mail.unreachable import unreachable
from monitor.store.db import unit_of_work
from monitor.store.lock import daemon_lock
from monitor.store.models import OutboxMessage, Patient
from tests.notify.notify_server import API_KEY, NotifyStub, notify_server
from tests.services.channel_clinic import (
    ADDRESS,
    DAY,
    NOW,
    PHONE,
    SMS_CONFIG,
    TEMPLATE_ID,
    add,
)


class Recording:
    def __init__(self) -> None:
        self.to: list[str] = []

    def send(self, message: EmailMessage) -> None:
        self.to.append(str(message["To"]))


def sms_transport(stub: NotifyStub, timeout: float = 5.0) -> NotifySmsTransport:
    settings = SmsConfig(
        enabled=True, base_url=stub.url, template_id=TEMPLATE_ID, timeout_seconds=timeout
    )
    return NotifySmsTransport(settings, API_KEY)


def rows(engine: Engine, channel: Channel) -> list[OutboxMessage]:
    with unit_of_work(engine) as session:
        found = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel)
            .where(OutboxMessage.status != OutboxStatus.SKIPPED)
            .order_by(OutboxMessage.id)
        ).all()
        session.expunge_all()
    return list(found)


def test_one_drain_delivers_emails_and_sms_and_leaves_letters(engine: Engine) -> None:
    add(engine, "E1", email="ada@example.org", config=SMS_CONFIG)
    add(engine, "S1", channel=Channel.SMS, phone=PHONE, config=SMS_CONFIG)
    add(engine, "L1", channel=Channel.LETTER, address=ADDRESS, config=SMS_CONFIG)
    run_daily(engine, on=DAY, config=SMS_CONFIG, now=NOW)
    mail = Recording()

    with notify_server() as stub:
        without = drain_outbox(engine, mail, now_fn=lambda: NOW)  # no SMS transport: SMS wait
        waiting = [row.status for row in rows(engine, Channel.SMS)]
        counts = drain_outbox(engine, mail, now_fn=lambda: NOW, sms=sms_transport(stub))

    texts = rows(engine, Channel.SMS)
    assert waiting == [OutboxStatus.PENDING] * len(texts) and len(texts) == 2
    assert sorted(mail.to) == ["ada@example.org", "ada@example.org", "nurses@clinic.example"]
    assert (without.sent, counts.sent) == (3, 2)
    assert [post["reference"] for post in stub.posts] == [
        f"outbox-{row.id}-{row.message_id}" for row in texts
    ]
    assert [post["personalisation"]["message"] for post in stub.posts] == [
        row.body_text for row in texts
    ]
    assert {post["phone_number"] for post in stub.posts} == {PHONE}
    assert {row.status for row in texts} == {OutboxStatus.SENT}
    assert {row.status for row in rows(engine, Channel.LETTER)} == {OutboxStatus.PENDING}


def queue_one_sms(engine: Engine) -> int:
    add(engine, "S1", channel=Channel.SMS, phone=PHONE, config=SMS_CONFIG)
    with unit_of_work(engine) as session:
        patient_id = session.scalars(select(Patient.id)).one()
        row = queue_other_channel(
            session, channel=Channel.SMS, message="patient-tests-due", recipient=PHONE,
            subject="", body_text="Reminder from Test MS Clinic: your tests are due by 5 March "
            "2026. To book or ask, call 0100 000 0000.", body_html=None, message_id="sms-abc",
            dedupe_key="patient-tests-due:sms-test", now=NOW, patient_id=patient_id,
            site="main", run_on=DAY,
        )  # fmt: skip
        assert row is not None
        return row.id


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("ok", OutboxStatus.SENT),
        (429, OutboxStatus.PENDING),
        (500, OutboxStatus.PENDING),
        ("hang", OutboxStatus.PENDING),
        (400, OutboxStatus.FAILED),
    ],
)
def test_notify_s_reply_decides_sent_retry_or_failed(
    engine: Engine, answer: str | int, status: OutboxStatus
) -> None:
    row_id = queue_one_sms(engine)

    with notify_server() as stub:
        stub.script = [answer]
        counts = drain_outbox(engine, Recording(), now_fn=lambda: NOW,
                              sms=sms_transport(stub, timeout=1))  # fmt: skip
        stub.release.set()

    with unit_of_work(engine) as session:
        row = session.get_one(OutboxMessage, row_id)
        listed = {u.mrn: u.why for u in unreachable(session, DAY, None)}
    assert (row.status, row.attempts) == (status, 1)
    assert len(stub.posts) == 1
    if status is OutboxStatus.SENT:
        assert (counts.sent, row.sent_at, row.last_error) == (1, NOW, None)
    elif status is OutboxStatus.PENDING:
        assert counts.retried == 1 and row.next_attempt_at == NOW + retry_delay(1)
        assert row.last_error and "Notify" in row.last_error
    else:
        assert counts.failed == 1 and row.failed_at == NOW
        assert listed == {"S1": "SMS delivery failed: Notify: 400 BadRequestError: "
                          "phone_number Not a UK mobile number"}  # fmt: skip


def test_a_timed_out_sms_that_notify_kept_is_not_sent_again(engine: Engine) -> None:
    row_id = queue_one_sms(engine)
    later = NOW + timedelta(hours=1)

    with notify_server() as stub:
        stub.script = ["hang-kept"]
        sender = sms_transport(stub, timeout=1)
        first = drain_outbox(engine, Recording(), now_fn=lambda: NOW, sms=sender)
        stub.release.set()
        again = drain_outbox(engine, Recording(), now_fn=lambda: later, sms=sender)

    with unit_of_work(engine) as session:
        row = session.get_one(OutboxMessage, row_id)
    assert (first.retried, again.sent) == (1, 1)
    assert len(stub.posts) == 1  # asked, found, not sent twice
    assert stub.lookups == [f"outbox-{row_id}-sms-abc"] * 2
    assert (row.status, row.attempts, row.sent_at) == (OutboxStatus.SENT, 2, later)


def test_an_sms_whose_sender_died_after_notify_took_it_is_not_sent_again(engine: Engine) -> None:
    """The claim ran out with the row still `sending` and no attempt recorded: the next drain
    takes it over, finds it at Notify and records it sent."""
    row_id = queue_one_sms(engine)
    with unit_of_work(engine) as session:
        row = session.get_one(OutboxMessage, row_id)
        row.status, row.claimed_by = OutboxStatus.SENDING, "died"
        row.claimed_until = NOW - timedelta(minutes=1)
        reference = f"outbox-{row.id}-{row.message_id}"

    with notify_server() as stub:
        stub.kept.append({"id": "c4f1", "reference": reference, "type": "sms"})
        counts = drain_outbox(engine, Recording(), now_fn=lambda: NOW, sms=sms_transport(stub))

    with unit_of_work(engine) as session:
        row = session.get_one(OutboxMessage, row_id)
    assert (counts.sent, row.status, stub.posts) == (1, OutboxStatus.SENT, [])


def test_a_retried_sms_waits_for_its_backoff(engine: Engine) -> None:
    queue_one_sms(engine)

    with notify_server() as stub:
        stub.script = [429]
        sender = sms_transport(stub)
        drain_outbox(engine, Recording(), now_fn=lambda: NOW, sms=sender)
        too_soon = drain_outbox(
            engine, Recording(), now_fn=lambda: NOW + timedelta(seconds=30), sms=sender
        )

    assert too_soon.sent == too_soon.retried == 0
    assert len(stub.posts) == 1


def test_the_daemon_s_drain_sends_sms_beside_email(engine: Engine) -> None:
    queue_one_sms(engine)
    add(engine, "E1", email="ada@example.org", config=SMS_CONFIG)
    run_daily(engine, on=DAY, config=SMS_CONFIG, now=NOW)
    mail = Recording()

    with notify_server() as stub:
        daemon = Daemon(SMS_CONFIG, engine, mail, sms=sms_transport(stub))
        with daemon_lock(engine, NOW) as lock:
            daemon.lock = lock
            daemon._drain()

    texts = rows(engine, Channel.SMS)  # the one queued by hand, and S1's two reminders
    assert len(texts) == 3
    assert sorted(post["reference"] for post in stub.posts) == sorted(
        f"outbox-{row.id}-{row.message_id}" for row in texts
    )  # each once
    assert {row.status for row in rows(engine, Channel.SMS)} == {OutboxStatus.SENT}
    assert "ada@example.org" in mail.to
