"""Every send the daily cycle decides not to make is an outbox row `skipped` with its reason
(SPEC §5, §9; issue 10 item 10), once: a rerun of the same day adds nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.domain.vocabulary import OutboxStatus
from monitor.notify.registry import PATIENT_MESSAGES
from monitor.services.mail.daily import run_daily
from monitor.services.mail.digest import _unreachable
from monitor.services.mail.unreachable import unreachable
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient, change_status
from monitor.store.db import unit_of_work
from monitor.store.models import Notice, OutboxMessage
from tests.conftest import clinic_config

CONFIG = clinic_config()
DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 7, tzinfo=UTC)
# On 2 March: the monthly panels are due on 5 March; the baseline tsh and skin slots (due
# 1 February, wide windows) are overdue with both steps reached at once, and their due date
# passed with no cycle running; the other baseline slots are already missed.
COURSE = [date(2026, 2, 1) + timedelta(days=d) for d in range(5)]
DUE_PASSED = "the due date passed before a daily cycle could send it"
SUPERSEDED = "superseded by the 7-day overdue reminder"


def add(engine: Engine, mrn: str, email: str | None, *, withdrawn_on: date | None = None) -> None:
    with unit_of_work(engine, CONFIG.catalogue) as session:
        add_patient(session, mrn=mrn, name="Pat Example", email=email, born_on=None, sex="F",
                    site="main", actor="test", now=NOW)  # fmt: skip
        add_course(session, mrn=mrn, infused_on=COURSE, actor="test", now=NOW)
        if withdrawn_on is not None:
            change_status(session, mrn=mrn, status="withdrawn", on=withdrawn_on, reason=None,
                          actor="test", now=NOW)  # fmt: skip


def patient_rows(engine: Engine) -> list[tuple[str, OutboxStatus, str | None]]:
    with unit_of_work(engine) as session:
        found = session.execute(
            select(OutboxMessage.message, OutboxMessage.status, OutboxMessage.reason).where(
                OutboxMessage.patient_id.is_not(None),
                OutboxMessage.message.in_(PATIENT_MESSAGES),  # not staff-escalation (issue 14)
            )
        ).all()
    return sorted((message, status, reason) for message, status, reason in found)


RULES_OWN = [
    ("patient-tests-due", OutboxStatus.SKIPPED, DUE_PASSED),
    ("patient-tests-overdue", OutboxStatus.SKIPPED, SUPERSEDED),
]
SENT = OutboxStatus.PENDING, None


@pytest.mark.parametrize(
    ("email", "withdrawn_on", "instead", "due"),
    [
        ("pat@example.org", None, None, True),  # reminded: only the rules' own skips
        (None, None, "no email address", True),
        # The stop cancels the slots due from 1 March: the baseline's reminders remain.
        ("pat@example.org", date(2026, 3, 1), "patient withdrawn", False),
    ],
)
def test_every_decision_not_to_send_is_a_skipped_row_with_its_reason(
    engine: Engine, email: str | None, withdrawn_on: date | None, instead: str | None, due: bool
) -> None:
    add(engine, "P1", email, withdrawn_on=withdrawn_on)

    report = run_daily(engine, on=DAY, config=CONFIG, now=NOW)

    outcome = SENT if instead is None else (OutboxStatus.SKIPPED, instead)
    expected = [*RULES_OWN, ("patient-tests-overdue", *outcome)]
    expected += [("patient-tests-due", *outcome)] if due else []
    assert patient_rows(engine) == sorted(expected)
    assert report.skipped == len(expected) - (2 if instead is None else 0)
    with unit_of_work(engine) as session:  # every decision points at its outbox row
        assert session.scalars(select(Notice.id).where(Notice.outbox_id.is_(None))).all() == []

    # The same day again: nothing new, skipped rows included.
    before = patient_rows(engine)
    again = run_daily(engine, on=DAY, config=CONFIG, now=NOW + timedelta(hours=1))
    assert (again.queued, again.skipped) == (0, 0)
    assert patient_rows(engine) == before

    # The nurses' lists name a patient who could not be reached, never the rules' own skips.
    with unit_of_work(engine) as session:
        digest_reasons = [row.reason for row in _unreachable(session, DAY, "main")]
        web_reasons = [row.why for row in unreachable(session, DAY, None)]
    assert digest_reasons == web_reasons == ([instead] if instead else [])


def test_the_skipped_step_covers_every_slot_it_supersedes_in_one_row(engine: Engine) -> None:
    """Two baseline panels superseded at once: one skipped row, every notice linked to it."""
    add(engine, "P1", "pat@example.org")

    run_daily(engine, on=DAY, config=CONFIG, now=NOW)

    with unit_of_work(engine) as session:
        (row,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.reason == SUPERSEDED)
        ).all()
        linked = session.scalars(select(Notice).where(Notice.outbox_id == row.id)).all()
    assert {notice.step for notice in linked} == {1}
    assert {notice.panel for notice in linked} == {"tsh", "skin"}
    assert row.dedupe_key.endswith(":skipped:superseded-by-the-7-day-overdue-reminder")
