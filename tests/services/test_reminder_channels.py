"""Each patient reminder goes by the patient's channel, with one fallback (a letter for a patient
on email without an address), or is skipped with its reason and shown among the patients who
could not be reached; a letter or SMS is decided once, like an email (issue 14 item 4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from monitor.config import Config
from monitor.domain.channels import NO_ADDRESS, NO_EMAIL, NO_PHONE, OPTED_OUT, SMS_OFF
from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.notify.sms import SMS_LIMIT
from monitor.services.mail.daily import run_daily
from monitor.services.mail.digest import _unreachable
from monitor.services.mail.unreachable import unreachable
from monitor.services.people.patients import change_status
from monitor.store.db import unit_of_work
from monitor.store.models import Notice, OutboxMessage
from tests.services.channel_clinic import (
    ADDRESS,
    CONFIG,
    DAY,
    NOW,
    PHONE,
    SMS_CONFIG,
    add,
    reminder_rows,
)

EMAIL = "alex@example.org"
PENDING = OutboxStatus.PENDING
SKIPPED = OutboxStatus.SKIPPED


@pytest.mark.parametrize(
    ("patient", "config", "channel", "status", "reason", "recipient"),
    [
        # email
        ({"email": EMAIL, "address": ADDRESS}, CONFIG, Channel.EMAIL, PENDING, None, EMAIL),
        # the fallback: no email address, a postal address, not opted out
        ({"address": ADDRESS}, CONFIG, Channel.LETTER, PENDING, None, ADDRESS),
        ({}, CONFIG, Channel.EMAIL, SKIPPED, NO_EMAIL, ""),
        # opted out of email: nothing by any channel, even with an address to write to
        ({"email": EMAIL, "address": ADDRESS, "opted_out": True}, CONFIG, Channel.EMAIL,
         SKIPPED, OPTED_OUT, EMAIL),
        ({"address": ADDRESS, "opted_out": True}, CONFIG, Channel.EMAIL, SKIPPED, OPTED_OUT, ""),
        # letter, even with an email address; opting out of email does not stop letters
        ({"channel": Channel.LETTER, "email": EMAIL, "address": ADDRESS, "opted_out": True},
         CONFIG, Channel.LETTER, PENDING, None, ADDRESS),
        ({"channel": Channel.LETTER, "email": EMAIL}, CONFIG, Channel.LETTER, SKIPPED,
         NO_ADDRESS, ""),
        ({"channel": Channel.LETTER, "address": "  \n "}, CONFIG, Channel.LETTER, SKIPPED,
         NO_ADDRESS, ""),
        # sms
        ({"channel": Channel.SMS, "phone": PHONE}, SMS_CONFIG, Channel.SMS, PENDING, None, PHONE),
        ({"channel": Channel.SMS, "email": EMAIL, "address": ADDRESS}, SMS_CONFIG, Channel.SMS,
         SKIPPED, NO_PHONE, ""),
        ({"channel": Channel.SMS, "phone": PHONE}, CONFIG, Channel.SMS, SKIPPED, SMS_OFF, PHONE),
    ],
)  # fmt: skip
def test_a_reminder_goes_by_the_patient_s_channel_or_is_skipped_with_the_reason(
    engine: Engine,
    patient: dict[str, object],
    config: Config,
    channel: Channel,
    status: OutboxStatus,
    reason: str | None,
    recipient: str,
) -> None:
    add(engine, "P1", config=config, **patient)  # type: ignore[arg-type]

    run_daily(engine, on=DAY, config=config, now=NOW)

    rows = reminder_rows(engine, "P1")
    assert [row.message for row in rows] == ["patient-tests-due", "patient-tests-overdue"]
    assert {(row.channel, row.status, row.reason, row.recipient) for row in rows} == {
        (channel, status, reason, recipient)
    }
    with unit_of_work(engine) as session:
        listed = [(row.mrn, row.why) for row in unreachable(session, DAY, None)]
        digest = [(row.mrn, row.reason) for row in _unreachable(session, DAY, "main")]
    assert listed == digest == ([] if reason is None else [("P1", reason)])


def test_a_letter_is_rendered_when_decided_and_an_sms_carries_its_text(engine: Engine) -> None:
    add(engine, "L1", name="Ada Lovelace", address=ADDRESS, result=True, config=SMS_CONFIG)
    add(engine, "S1", name="Grace Hopper", channel=Channel.SMS, phone=PHONE, result=True,
        config=SMS_CONFIG)  # fmt: skip

    run_daily(engine, on=DAY, config=SMS_CONFIG, now=NOW)

    letter, _ = reminder_rows(engine, "L1")
    assert letter.body_html is not None and "Dear Ada," in letter.body_html
    assert "Monday 2 March 2026" in letter.body_html  # dated by the deciding cycle
    assert (letter.calendar, letter.message_id) == (None, "")
    for row in reminder_rows(engine, "S1"):
        assert row.body_html is None and row.message_id.startswith("sms-")
        assert 0 < len(row.body_text) <= SMS_LIMIT
        assert "Test MS Clinic" in row.body_text and "0100 000 0000" in row.body_text
        for word in ("Grace", "Hopper", "S1", "1980", "72", "alemtuzumab", "platelet"):
            assert word.lower() not in row.body_text.lower()


def test_a_stopped_patient_gets_nothing_by_any_channel(engine: Engine) -> None:
    add(engine, "P1", channel=Channel.LETTER, address=ADDRESS)
    with unit_of_work(engine, CONFIG.catalogue) as session:
        change_status(session, mrn="P1", status="withdrawn", on=DAY - timedelta(days=1),
                      reason=None, actor="test", now=NOW)  # fmt: skip

    run_daily(engine, on=DAY, config=CONFIG, now=NOW)

    rows = reminder_rows(engine, "P1")
    assert rows and {(r.channel, r.status, r.reason) for r in rows} == {
        (Channel.LETTER, SKIPPED, "patient withdrawn")
    }


@pytest.mark.parametrize(
    ("patient", "config"),
    [
        ({"address": ADDRESS}, CONFIG),
        ({"channel": Channel.SMS, "phone": PHONE}, SMS_CONFIG),
    ],
)
def test_a_letter_or_sms_is_decided_once_across_daily_runs(
    engine: Engine, patient: dict[str, object], config: Config
) -> None:
    add(engine, "P1", config=config, **patient)  # type: ignore[arg-type]

    first = run_daily(engine, on=DAY, config=config, now=NOW)
    again = run_daily(engine, on=DAY, config=config, now=NOW + timedelta(hours=2))
    for days in range(1, 8):  # the next week's cycles: only what is new
        run_daily(engine, on=DAY + timedelta(days=days), config=config, now=NOW)

    assert first.queued >= 2 and (again.queued, again.skipped) == (0, 0)
    with unit_of_work(engine) as session:
        # Every slot (and overdue step) a reminder went out for: in exactly one message.
        reminded = session.execute(
            select(Notice.message, Notice.protocol, Notice.panel, Notice.due_on, Notice.step,
                   func.count(func.distinct(Notice.outbox_id)))
            .join(OutboxMessage, OutboxMessage.id == Notice.outbox_id)
            .where(OutboxMessage.status == PENDING)
            .group_by(Notice.message, Notice.protocol, Notice.panel, Notice.due_on, Notice.step)
        ).all()  # fmt: skip
        channels = set(session.scalars(select(OutboxMessage.channel).where(
            OutboxMessage.patient_id.is_not(None), OutboxMessage.status == PENDING)))  # fmt: skip
    assert reminded and {row[-1] for row in reminded} == {1}
    assert channels == {Channel.LETTER if "address" in patient else Channel.SMS}
