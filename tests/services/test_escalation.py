"""Escalation (issue 14 item 3): a patient overdue more than `[chasing] escalate_after_days`
with no successful contact is listed in the digest and sent to `staff.urgent_to` once per
overdue episode, across daily runs; a reached or booked patient is not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.config import ConfigError, parse_config
from monitor.services.mail.daily import run_daily
from monitor.services.people.contacts import record_contact
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.cli.test_schedule_and_overdue import add_patient
from tests.conftest import clinic_config

CONFIG = clinic_config()
DAY = date(2024, 2, 20)  # A1, B2 and C3's tsh and skin fell due on 2024-01-08: 43 days
NOW = datetime(2024, 2, 20, 7, tzinfo=UTC)


def contact(engine: Engine, mrn: str, outcome: str, at: datetime, booked_on=None) -> None:
    with unit_of_work(engine) as session:
        record_contact(session, mrn=mrn, outcome=outcome, by="Nina", booked_on=booked_on,
                       note=None, actor="Nina", today=at.date(), now=at)  # fmt: skip


def escalations(engine: Engine) -> list[OutboxMessage]:
    with unit_of_work(engine) as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.message == "staff-escalation")
            .order_by(OutboxMessage.id)
        ).all()
        session.expunge_all()
        return list(rows)


def digest_text(engine: Engine, on: date) -> str:
    with unit_of_work(engine) as session:
        rows = session.scalars(
            select(OutboxMessage.body_text).where(
                OutboxMessage.message == "staff-daily-digest", OutboxMessage.run_on == on
            )
        ).all()
    return "\n".join(rows)


@pytest.fixture
def clinic(engine: Engine) -> Engine:
    for mrn in ("A1", "B2", "C3"):
        add_patient(engine, mrn, "2024-01-08")
    return engine


def test_escalation_fires_once_across_two_runs_and_not_after_a_successful_contact(clinic):
    contact(clinic, "B2", "reached", datetime(2024, 2, 10, 11, tzinfo=UTC))
    contact(clinic, "C3", "no-answer", datetime(2024, 2, 10, 11, tzinfo=UTC))

    run_daily(clinic, on=DAY, config=CONFIG, now=NOW)
    run_daily(clinic, on=DAY + timedelta(days=1), config=CONFIG, now=NOW + timedelta(days=1))
    run_daily(clinic, on=DAY, config=CONFIG, now=NOW + timedelta(days=1, hours=2))  # a rerun

    sent = escalations(clinic)
    assert len(sent) == 2
    assert all(row.dedupe_key == f"staff-escalation:{row.patient_id}:2024-01-08" for row in sent)
    mrns = sorted(row.subject.split(" ")[1] for row in sent)
    assert mrns == ["A1", "C3"]  # B2 was reached on 10 February
    c3 = next(row for row in sent if " C3 " in row.subject)
    assert c3.recipient == "clinicians@clinic.example"
    assert "no-answer on 2024-02-10" in c3.body_text
    assert "Patient C3" not in c3.body_text + (c3.body_html or "")  # MRN only, never the name
    digest = digest_text(clinic, DAY)
    assert "no successful contact (2)" in digest
    assert "A1: overdue since 2024-01-08 (43 days)" in digest
    assert "B2: overdue since" not in digest


def test_a_contact_before_the_tests_fell_due_does_not_count(clinic):
    contact(clinic, "A1", "reached", datetime(2024, 1, 5, 11, tzinfo=UTC))

    run_daily(clinic, on=DAY, config=CONFIG, now=NOW)

    assert any(" A1 " in row.subject for row in escalations(clinic))


def test_a_booked_patient_is_not_escalated(clinic):
    contact(clinic, "A1", "booked", datetime(2024, 2, 19, 11, tzinfo=UTC), date(2024, 2, 27))

    run_daily(clinic, on=DAY, config=CONFIG, now=NOW)

    assert {row.subject.split(" ")[1] for row in escalations(clinic)} == {"B2", "C3"}


def test_nobody_is_escalated_before_the_configured_days(clinic):
    config = clinic_config({"chasing": {"escalate_after_days": 50}})

    run_daily(clinic, on=DAY, config=config, now=NOW)

    assert escalations(clinic) == []
    assert "no successful contact" not in digest_text(clinic, DAY)


def test_unconfigured_recipients_record_a_skip_and_the_real_one_follows(clinic):
    placeholder = parse_config({})

    run_daily(clinic, on=DAY, config=placeholder, now=NOW)
    held = escalations(clinic)
    run_daily(clinic, on=DAY + timedelta(days=1), config=CONFIG, now=NOW + timedelta(days=1))
    after = escalations(clinic)

    assert {row.status.value for row in held} == {"skipped"}
    assert len(held) == 3
    assert len(after) == 6 and {row.status.value for row in after[3:]} == {"pending"}


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"escalate_after_days": 0}, "chasing.escalate_after_days"),
        ({"escalate_after_days": "21"}, "chasing.escalate_after_days"),
        ({"escalate_after_day": 21}, "chasing.escalate_after_day"),
    ],
)
def test_a_bad_chasing_section_is_refused_naming_the_key(table, words):
    with pytest.raises(ConfigError, match=words):
        parse_config({"chasing": table})
