"""Patients on each reminder channel for the channel tests (issue 14 item 4).

The channel, phone and postal address are set on the row directly: `patient edit --channel`
is another part of the issue. On 2 March 2026 a patient whose course ran on 1-5 February is
sent a due reminder (the monthly panels due 5 March) and an overdue one (the baseline tsh and
skin slots), besides the rules' own skips (a superseded step, a due date passed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.notify.registry import PATIENT_MESSAGES
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.results.recording import ResultIn, add_result
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage, Patient
from tests.conftest import clinic_config

TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
# These patients are overdue long enough to be escalated to staff; that message has its own
# tests (tests/services/test_escalation.py), so here it is pushed out of the way.
NO_ESCALATION = {"chasing": {"escalate_after_days": 365}}
CONFIG = clinic_config(NO_ESCALATION)
SMS_CONFIG = clinic_config({**NO_ESCALATION, "sms": {"enabled": True, "template_id": TEMPLATE_ID}})
DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 7, tzinfo=UTC)
COURSE = [date(2026, 2, 1) + timedelta(days=d) for d in range(5)]
BORN_ON = date(1980, 1, 2)
ADDRESS = "Flat 2\n10 Example Road\nExampletown\nEX1 2MP"
PHONE = "07700 900123"
RULES_OWN = {
    "the due date passed before a daily cycle could send it",
    "superseded by the 7-day overdue reminder",
}


def add(
    engine: Engine,
    mrn: str,
    *,
    name: str = "Alex Morgan",
    email: str | None = None,
    channel: Channel = Channel.EMAIL,
    opted_out: bool = False,
    result: bool = False,
    config: Any = CONFIG,
    **contact: str | None,
) -> None:
    """A patient on COURSE with their channel and contact details (`address`, `phone`); with
    `result`, an urgent platelet count of 72 on file (which no patient message may mention)."""
    with unit_of_work(engine, config.catalogue) as session:
        patient = add_patient(session, mrn=mrn, name=name, email=email, born_on=BORN_ON,
                              sex="F", site="main", actor="test", now=NOW)  # fmt: skip
        add_course(session, mrn=mrn, infused_on=COURSE, actor="test", now=NOW)
        patient.channel, patient.email_opted_out = channel, opted_out
        patient.address, patient.phone = contact.get("address"), contact.get("phone")
        if result:
            given = ResultIn(mrn, "platelets", "72", "10^9/L", date(2026, 2, 20))
            add_result(session, given, today=DAY, now=NOW, rules=config.rule_settings)


def reminder_rows(engine: Engine, mrn: str) -> list[OutboxMessage]:
    """The patient's reminders and skips, without the rules' own skips, by message (staff
    messages about the patient, such as an escalation, are not reminders)."""
    with unit_of_work(engine) as session:
        patient_id = session.scalars(select(Patient.id).where(Patient.mrn == mrn)).one()
        rows = session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.patient_id == patient_id,
                OutboxMessage.message.in_(PATIENT_MESSAGES),
            )
            .order_by(OutboxMessage.message, OutboxMessage.id)
        ).all()
        session.expunge_all()
    return [r for r in rows if not (r.status is OutboxStatus.SKIPPED and r.reason in RULES_OWN)]
