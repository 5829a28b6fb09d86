"""A small synthetic clinic for the worklist tests (invented names; nothing here is a person).

Everything is relative to TODAY, the worklist's clinic date in these tests. Alex has had every
test done on time until about two months ago, so this month's tests are overdue and a platelet
count below 100 left an open urgent flag; the second patient's name is an XSS probe; Robin has
no email address, so a reminder was skipped; Sam's first monthly tests are due this week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.courses import Course
from monitor.domain.vocabulary import OutboxStatus
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.people.treatments import start_treatment
from monitor.services.people.users import add_user
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage, Patient
from tests.reference_schedule import build_schedule

TODAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
XSS_NAME = "<script>alert(1)</script>"

VALUES = {
    "platelets": ("250", "10^9/L"),
    "neutrophils": ("3.5", "10^9/L"),
    "hemoglobin": ("140", "g/L"),
    "creatinine": ("70", "umol/L"),
    "urine_rbc": ("0", "/HPF"),
    "urine_protein": ("negative", None),
    "alt": ("22", "U/L"),
    "bilirubin": ("9", "umol/L"),
    "tsh": ("1.8", "mIU/L"),
    "skin_exam": ("normal", None),
}


@dataclass(frozen=True)
class Clinic:
    alex: str = "A100"
    probe: str = "B200"
    robin: str = "C300"
    sam: str = "D400"


def add_users(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        add_user(session, name="nina", role="nurse", password=PASSWORD, actor="test", now=NOW)
        add_user(session, name="adam", role="admin", password=PASSWORD, actor="test", now=NOW)


def seed(engine: Engine, config: Config) -> Clinic:
    clinic = Clinic()
    protocol = config.catalogue
    first = TODAY - timedelta(days=420)
    course = Course(tuple(first + timedelta(days=d) for d in range(5)))
    with unit_of_work(engine, protocol) as session:
        for mrn, name, site, email in (
            (clinic.alex, "Alex Rivers", "main", "alex@example.invalid"),
            (clinic.probe, XSS_NAME, "north", None),
            (clinic.robin, "Robin Hale", "north", None),
        ):
            add_patient(
                session,
                mrn=mrn,
                name=name,
                email=email,
                born_on=date(1985, 3, 2),
                sex="F",
                site=site,
                actor="test",
                now=NOW,
            )
            add_course(session, mrn=mrn, infused_on=course.dates, actor="test", now=NOW)
        _add_new_patient(session, clinic.sam, config)
        batch = _on_time_results(clinic.alex, course, config)
        batch.append(ResultIn(clinic.alex, "platelets", "80", "10^9/L", TODAY - timedelta(days=3)))
        record_results(session, batch, today=TODAY, now=NOW, config=config)
        session.add(_skipped_reminder(session, clinic.robin))
    return clinic


def _add_new_patient(session: Session, mrn: str, config: Config) -> None:
    """Sam's first course ended a month ago, so the first monthly tests fall due this week."""
    first = TODAY - timedelta(days=33)
    course = Course(tuple(first + timedelta(days=d) for d in range(5)))
    add_patient(
        session,
        mrn=mrn,
        name="Sam Moss",
        email="sam@example.invalid",
        born_on=date(1990, 7, 9),
        sex="M",
        site="main",
        actor="test",
        now=NOW,
    )
    add_course(
        session,
        mrn=mrn,
        infused_on=course.dates,
        actor="test",
        now=NOW,
    )
    drawn = first - timedelta(days=10)
    batch = [ResultIn(mrn, a, *VALUES[a], drawn) for a in VALUES]
    record_results(session, batch, today=TODAY, now=NOW, config=config)


def _on_time_results(mrn: str, course: Course, config: Config) -> list[ResultIn]:
    protocol = config.protocol.to_protocol()
    batch = []
    for slot in build_schedule([course], protocol):
        if slot.window_end >= TODAY - timedelta(days=45):
            continue
        for analyte in protocol.panel(slot.panel).analytes:
            value, unit = VALUES[analyte]
            batch.append(ResultIn(mrn, analyte, value, unit, slot.due_on))
    return batch


def _skipped_reminder(session: Session, mrn: str) -> OutboxMessage:
    patient_id = session.scalar(select(Patient.id).where(Patient.mrn == mrn))
    return OutboxMessage(
        message="patient-tests-due",
        recipient="",
        patient_id=patient_id,
        site="north",
        subject="Blood and urine tests due",
        body_text="-",
        message_id=f"<skipped-{mrn}@clinic.invalid>",
        dedupe_key=f"test:{mrn}",
        status=OutboxStatus.SKIPPED,
        reason="no email address on file",
        attempts=0,
        run_on=TODAY,
        created_at=NOW,
    )


# ------------------------------------------------ two series (issue 13: several treatments)

SITE_NAT = {
    "name": "Site natalizumab",
    "kind": "continuous",
    "after_stop_months": 6,
    "panels": {
        "lft": {
            "analytes": ["alt", "bilirubin"],
            "baseline": True,
            "patient_words": "your liver blood test",
            "phases": [{"every": "1m", "until": "3m"}, {"every": "3m"}],
        }
    },
}
TWO_SERIES_MRN = "E500"
# Eli's alemtuzumab course ends on the 25th, and site_nat starts on a 25th: both series ask
# for lft on the 25th of each month, so 25 May 2026 is overdue in both.
ELI_COURSE = Course(tuple(date(2025, 4, 21) + timedelta(days=d) for d in range(5)))
ELI_NAT_START = date(2026, 3, 25)
SHARED_LFT_DUE = date(2026, 5, 25)


def seed_two_series(engine: Engine, config: Config) -> str:
    """Eli: an alemtuzumab course in April 2025, then `site_nat` from 25 March 2026; no results
    since, so both series' lft of 25 May 2026 are overdue."""
    with unit_of_work(engine, config.catalogue) as session:
        add_patient(
            session,
            mrn=TWO_SERIES_MRN,
            name="Eli Stone",
            email="eli@example.invalid",
            born_on=date(1979, 11, 4),
            sex="M",
            site="main",
            actor="test",
            now=NOW,
        )
        add_course(session, mrn=TWO_SERIES_MRN, infused_on=ELI_COURSE.dates, actor="test", now=NOW)
        start_treatment(
            session,
            mrn=TWO_SERIES_MRN,
            protocol="site_nat",
            started_on=ELI_NAT_START,
            actor="test",
            now=NOW,
        )
    return TWO_SERIES_MRN
