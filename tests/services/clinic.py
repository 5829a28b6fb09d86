"""A small clinic for the use-case tests: one protocol, one instant, a patient on a course, and
questions the tests ask of the database afterwards (each in its own unit of work, so they see
only what was committed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import DeclarativeBase

from monitor.config import Config
from monitor.services.people import courses, patients
from monitor.services.results.recording import ResultIn
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Patient, Slot

CONFIG = Config()
PROTOCOL = CONFIG.catalogue
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
COURSE = [date(2025, 1, 6) + timedelta(days=d) for d in range(5)]
MRN = "M1"
# The first monthly slots after COURSE (baseline on its first day, then every month).
FEBRUARY, MARCH = date(2025, 2, 10), date(2025, 3, 10)


def enrol(engine: Engine, mrn: str = MRN, *, course: bool = True, **fields: Any) -> None:
    """A patient (Alex Morgan, born 1980-01-02, F) and, unless `course` is False, COURSE."""
    values = {"name": "Alex Morgan", "email": None, "born_on": date(1980, 1, 2), "sex": "F"}
    values |= fields
    with unit_of_work(engine, PROTOCOL) as session:
        patients.add_patient(session, mrn=mrn, site="main", actor="test", now=NOW, **values)
        if course:
            courses.add_course(session, mrn=mrn, infused_on=COURSE, actor="test", now=NOW)


def result_in(analyte: str, value: str, unit: str | None, on: date, **fields: Any) -> ResultIn:
    return ResultIn(mrn=fields.pop("mrn", MRN), analyte=analyte, value=value, unit=unit,
                    collected_on=on, **fields)  # fmt: skip


def count(engine: Engine, model: type[DeclarativeBase]) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def audit_actions(engine: Engine) -> list[str]:
    """The audit log's actions, oldest first."""
    with unit_of_work(engine) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def audit_entries(engine: Engine, action: str) -> list[AuditEntry]:
    with unit_of_work(engine) as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def slot(engine: Engine, panel: str, due_on: date, mrn: str = MRN) -> Slot | None:
    """The stored slot, as committed."""
    with unit_of_work(engine) as session:
        return session.scalar(
            select(Slot)
            .join(Patient, Patient.id == Slot.patient_id)
            .where(Patient.mrn == mrn, Slot.panel == panel, Slot.due_on == due_on)
        )


def patient(engine: Engine, mrn: str = MRN) -> Patient:
    with unit_of_work(engine) as session:
        return session.scalars(select(Patient).where(Patient.mrn == mrn)).one()
