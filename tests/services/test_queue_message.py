"""`queue_message`: every registered message rendered and queued once, or its skip recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select

from monitor.domain.vocabulary import OutboxStatus
from monitor.notify.calendar import build_calendar, build_overdue_calendar
from monitor.notify.messages import (
    Clinic,
    DigestAlert,
    TestDue,
    patient_tests_due_context,
    staff_urgent_flag_context,
)
from monitor.notify.registry import (
    PATIENT_TESTS_DUE,
    PATIENT_TESTS_OVERDUE,
    STAFF_DAILY_DIGEST,
    STAFF_URGENT_FLAG,
)
from monitor.notify.render import render_email
from monitor.services.mail.queueing import Envelope, queue_message
from monitor.services.people.patients import add_patient
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage

NOW = datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
ON = date(2026, 3, 5)
CLINIC = Clinic("Riverside Neurology", "020 7946 0000")
TESTS = [TestDue("cbc", date(2026, 3, 12)), TestDue("tsh", date(2026, 3, 12))]
DOMAIN = "clinic.example"
ALERT = DigestAlert(
    flag_id=7,
    mrn="A0001",
    severity="urgent",
    analyte="platelets",
    value="72",
    unit="10^9/L",
    collected_on=date(2026, 3, 4),
    message="Platelets 72 x10^9/L, below 100 (urgent).",
)


def patient(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return add_patient(
            session,
            mrn="RX-1",
            name="Pat Example",
            email="pat@example.org",
            born_on=None,
            sex=None,
            site="north",
            actor="test",
            now=NOW,
        ).id


def rows(engine: Engine) -> list[OutboxMessage]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_patient_reminder_is_rendered_with_its_calendar_and_keyed_per_patient_and_cycle(
    engine: Engine,
) -> None:
    patient_id = patient(engine)
    to = Envelope("pat@example.org", patient_id=patient_id, site="north", run_on=ON)
    with unit_of_work(engine) as session:
        draft = PATIENT_TESTS_DUE.draft("Pat", CLINIC, TESTS)
        row = queue_message(session, draft, to=to, now=NOW, mail_domain=DOMAIN)
        assert row is not None
    (stored,) = rows(engine)
    expected = render_email("patient-tests-due", patient_tests_due_context("Pat", CLINIC, TESTS))
    assert (stored.message, stored.status) == ("patient-tests-due", OutboxStatus.PENDING)
    assert (stored.subject, stored.body_text, stored.body_html) == (
        expected.subject,
        expected.text,
        expected.html,
    )
    assert stored.calendar == build_calendar(CLINIC, TESTS, stamp=NOW)
    assert stored.dedupe_key == f"patient-tests-due:{patient_id}:2026-03-05"
    assert (stored.recipient, stored.patient_id, stored.site, stored.run_on) == (
        "pat@example.org",
        patient_id,
        "north",
        ON,
    )
    assert stored.message_id.endswith(f"@{DOMAIN}>")


def test_an_overdue_reminders_calendar_is_built_for_the_cycle_date(engine: Engine) -> None:
    patient_id = patient(engine)
    to = Envelope("pat@example.org", patient_id=patient_id, site="north", run_on=ON)
    with unit_of_work(engine) as session:
        draft = PATIENT_TESTS_OVERDUE.draft("Pat", CLINIC, TESTS)
        queue_message(session, draft, to=to, now=NOW, mail_domain=DOMAIN)
    (stored,) = rows(engine)
    assert stored.calendar == build_overdue_calendar(CLINIC, TESTS, emailed_on=ON, stamp=NOW)


def test_the_same_decision_twice_queues_one_row(engine: Engine) -> None:
    to = Envelope("nurses@clinic.example", site="north", run_on=ON)
    draft = STAFF_DAILY_DIGEST.draft(CLINIC, "north", ON, [], [], [])
    with unit_of_work(engine) as session:
        first = queue_message(session, draft, to=to, now=NOW, mail_domain=DOMAIN)
        second = queue_message(session, draft, to=to, now=NOW, mail_domain=DOMAIN)
        assert first is not None and second is None
    (stored,) = rows(engine)
    assert (stored.dedupe_key, stored.calendar) == ("staff-daily-digest:north:2026-03-05", None)


def test_a_skip_stands_in_for_the_message_under_its_key(engine: Engine) -> None:
    patient_id = patient(engine)
    to = Envelope("", patient_id=patient_id, site="north", run_on=ON)
    draft = PATIENT_TESTS_DUE.draft("Pat", CLINIC, TESTS)
    with unit_of_work(engine) as session:
        skipped = queue_message(
            session, draft, to=to, now=NOW, mail_domain=DOMAIN, skip="no email address"
        )
        assert skipped is not None
        assert queue_message(session, draft, to=to, now=NOW, mail_domain=DOMAIN) is None
    (stored,) = rows(engine)
    assert (stored.status, stored.reason) == (OutboxStatus.SKIPPED, "no email address")
    assert (stored.subject, stored.body_text, stored.message_id) == ("", "", "")
    assert stored.dedupe_key == f"patient-tests-due:{patient_id}:2026-03-05"


def test_a_tagged_skip_leaves_room_for_the_real_message(engine: Engine) -> None:
    to = Envelope("", site="main", run_on=ON)
    with unit_of_work(engine) as session:
        queue_message(
            session, STAFF_DAILY_DIGEST, to=to, now=NOW, skip="not built", tag="not-built"
        )
        draft = STAFF_DAILY_DIGEST.draft(CLINIC, "main", ON, [], [], [])
        real = Envelope("nurses@clinic.example", site="main", run_on=ON)
        assert queue_message(session, draft, to=real, now=NOW, mail_domain=DOMAIN) is not None
    skipped, queued = rows(engine)
    assert skipped.dedupe_key == "staff-daily-digest:main:2026-03-05:skipped:not-built"
    assert (skipped.status, skipped.reason) == (OutboxStatus.SKIPPED, "not built")
    assert (queued.dedupe_key, queued.status) == (
        "staff-daily-digest:main:2026-03-05",
        OutboxStatus.PENDING,
    )


def test_an_urgent_flag_alert_is_keyed_by_its_flag(engine: Engine) -> None:
    patient_id = patient(engine)
    to = Envelope("clinicians@clinic.example", patient_id=patient_id, site="north")
    with unit_of_work(engine) as session:
        draft = STAFF_URGENT_FLAG.draft(CLINIC, ALERT, "north")
        key = {"flag_id": ALERT.flag_id}
        queue_message(session, draft, to=to, now=NOW, mail_domain=DOMAIN, key=key)
    (stored,) = rows(engine)
    expected = render_email("staff-urgent-flag", staff_urgent_flag_context(CLINIC, ALERT, "north"))
    assert (stored.dedupe_key, stored.subject) == ("staff-urgent-flag:7", expected.subject)
    assert (stored.run_on, stored.calendar) == (None, None)


def test_a_message_without_its_key_parts_queues_nothing(engine: Engine) -> None:
    to = Envelope("clinicians@clinic.example", site="north")
    with unit_of_work(engine) as session:
        draft = STAFF_URGENT_FLAG.draft(CLINIC, ALERT, "north")
        with pytest.raises(ValueError, match="the dedupe key needs flag_id"):
            queue_message(session, draft, to=to, now=NOW, mail_domain=DOMAIN)
    assert rows(engine) == []


def test_a_bare_message_can_only_be_skipped(engine: Engine) -> None:
    to = Envelope("", site="main", run_on=ON)
    with unit_of_work(engine) as session, pytest.raises(TypeError, match="only a draft"):
        queue_message(session, STAFF_DAILY_DIGEST, to=to, now=NOW)  # type: ignore[call-overload]
    assert rows(engine) == []
