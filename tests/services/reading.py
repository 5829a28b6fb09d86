"""A small clinic for the read-side tests (invented names; nothing here is a person).

Two sites. Ann (main) had platelets 250 then 80: an urgent low count and a review for the fall
on one result. Bo (north) had platelets 40: an emergency and a review; and neutrophils 1.2, a
review since acknowledged. Cy (north) has no flag.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import OutboxStatus
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.results.flags import acknowledge_flag
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.store.db import unit_of_work
from monitor.store.models import Flag, OutboxMessage, Patient
from tests.conftest import clinic_config

CONFIG = clinic_config()
TODAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 9, tzinfo=UTC)
COURSE = [date(2026, 1, 5) + timedelta(days=d) for d in range(5)]
PEOPLE = (
    ("A1", "Ann Example", "main"),
    ("B2", "Bo Example", "north"),
    ("C3", "Cy Example", "north"),
)


def build(engine: Engine) -> None:
    with unit_of_work(engine, CONFIG.catalogue) as session:
        for mrn, name, site in PEOPLE:
            add_patient(session, mrn=mrn, name=name, email=None, born_on=date(1980, 1, 2),
                        sex="F", site=site, actor="test", now=NOW)  # fmt: skip
            add_course(session, mrn=mrn, infused_on=COURSE, actor="test", now=NOW)
        platelets = [
            ResultIn("A1", "platelets", "250", "10^9/L", TODAY - timedelta(days=40)),
            ResultIn("A1", "platelets", "80", "10^9/L", TODAY - timedelta(days=3)),
            ResultIn("B2", "platelets", "250", "10^9/L", TODAY - timedelta(days=40)),
            ResultIn("B2", "platelets", "40", "10^9/L", TODAY - timedelta(days=2)),
            ResultIn("B2", "neutrophils", "1.2", "10^9/L", TODAY - timedelta(days=5)),
        ]
        record_results(session, platelets, today=TODAY, now=NOW, config=CONFIG)
    with unit_of_work(engine) as session:
        review = session.scalars(
            select(Flag).where(
                Flag.patient_id == patient_id(session, "B2"), Flag.rule.like("neutrophils%")
            )
        ).one()
        acknowledge_flag(session, flag_id=review.id, by="nina", note="seen", now=NOW)


def patient_id(session: Session, mrn: str) -> int:
    return session.scalars(select(Patient.id).where(Patient.mrn == mrn)).one()


def add_outbox(
    session: Session,
    mrn: str,
    status: OutboxStatus,
    *,
    reason: str | None = None,
    error: str | None = None,
    run_on: date = TODAY,
    message: str = "patient-tests-due",
) -> int:
    """One outbox row of the patient's; returns its id (ids grow: a later row is newer)."""
    row = OutboxMessage(
        message=message,
        recipient="",
        patient_id=patient_id(session, mrn),
        site="x",
        subject="Tests due",
        body_text="-",
        message_id=f"<{mrn}-{status}-{run_on}-{reason}@clinic.invalid>",
        dedupe_key=f"test:{mrn}:{status}:{run_on}:{reason}:{error}",
        status=status,
        reason=reason,
        last_error=error,
        attempts=0,
        run_on=run_on,
        created_at=NOW,
    )
    session.add(row)
    session.flush()
    return row.id
