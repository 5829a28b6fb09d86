"""Each SQL condition of `store.slot_predicates` agrees with the pure `domain.status.slot_status`.

Hypothesis generates small clinics (1-3 patients with 1-3 courses, results on time, late, partial,
early or missing, waivers, stops with and without a date); their slots are computed by the pure
core and stored as `services.schedule.slots.slot_rows` stores them. Then, for dates D chosen on
and beside every boundary the statuses turn on (window start and end, the next window's start,
completion days, stop days), every condition is evaluated by the database for every slot in one
query and compared with what `slot_status` says of the same stored row. On SQLite and PostgreSQL
(the `engine` fixture).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, case, delete, insert, select

from monitor.config import Config
from monitor.domain.courses import Course
from monitor.domain.status import CountedResult, SlotStatus, is_cancelled_by_stop, slot_status
from monitor.domain.vocabulary import STOPPED_STATUSES, PatientStatus
from monitor.services.schedule.slots import slot_rows
from monitor.store import models
from monitor.store.models import Patient, Slot
from monitor.store.slot_predicates import (
    active_on,
    cancelled,
    done_by,
    due_between,
    is_open,
    late_by,
    missed_on,
    not_completed_by,
    overdue_halves,
    overdue_on,
    pending_on,
    waived,
)
from tests.reference_schedule import build_schedule, plan_course_slots

PROTOCOL = Config().catalogue
REFERENCE = Config().protocol.to_protocol()
NOW = datetime(2030, 1, 1, tzinfo=UTC)
STILL_TO_DO = {SlotStatus.UPCOMING, SlotStatus.DUE, SlotStatus.MISSED, SlotStatus.OVERDUE}
PENDING = {SlotStatus.UPCOMING, SlotStatus.DUE}


@dataclass(frozen=True)
class Generated:
    """One patient as drawn: courses, the status and its date, a seed for results and waivers."""

    courses: tuple[Course, ...]
    status: PatientStatus
    status_on: date | None
    seed: int

    @property
    def stopped_on(self) -> date | None:
        """`models.Patient.stopped_on` for the drawn status."""
        return self.status_on if self.status in STOPPED_STATUSES else None


@st.composite
def patients(draw: st.DrawFn) -> Generated:
    start = draw(st.dates(date(2019, 1, 1), date(2025, 6, 30)))
    courses = []
    for index in range(draw(st.integers(1, 3))):
        length = draw(st.integers(1, 5))
        courses.append(Course(tuple(start + timedelta(days=d) for d in range(length))))
        start += timedelta(days=draw(st.integers(200, 500)) + index)
    status = draw(st.sampled_from(list(PatientStatus)))
    status_on = draw(st.none() | st.dates(courses[0].first_on, date(2029, 12, 31)))
    return Generated(tuple(courses), status, status_on, draw(st.integers(0, 2**32)))


def results_for(patient: Generated, rng: random.Random) -> list[CountedResult]:
    """Per slot: nothing, every analyte on time, some on time, late, or before the window."""
    found = []
    for slot in build_schedule(list(patient.courses), REFERENCE):
        analytes = REFERENCE.panel(slot.panel).analytes
        kind = rng.choice(("none", "none", "on time", "on time", "partial", "late", "early"))
        span = (slot.window_end - slot.window_start).days
        collected = slot.window_start + timedelta(days=rng.randint(0, span))
        if kind == "none":
            continue
        if kind == "partial":
            analytes = analytes[: rng.randint(1, len(analytes))]
        elif kind == "late":
            collected = slot.window_end + timedelta(days=rng.randint(1, 45))
        elif kind == "early":
            collected = slot.window_start - timedelta(days=rng.randint(1, 10))
        found.extend(CountedResult(analyte, collected) for analyte in analytes)
    return found


def store(engine: Engine, clinic: list[Generated]) -> None:
    """The clinic's patients and their slots, as a rebuild stores them."""
    with engine.begin() as connection:
        connection.execute(delete(Slot))
        connection.execute(delete(Patient))
        for number, patient in enumerate(clinic, start=1):
            rng = random.Random(patient.seed)
            added = connection.execute(
                insert(Patient).values(
                    mrn=f"S{number:03d}",
                    name=f"Patient {number}",
                    status=patient.status,
                    status_on=patient.status_on,
                    created_at=NOW,
                )
            )
            progress = plan_course_slots(list(patient.courses), results_for(patient, rng), PROTOCOL)
            waived = {
                (p.slot.protocol, p.slot.panel, p.slot.due_on)
                for p in progress
                if rng.random() < 0.05
            }
            rows = slot_rows(added.inserted_primary_key[0], progress, waived, patient.stopped_on)
            connection.execute(insert(models.Base.metadata.tables["slots"]), rows)


def boundary_dates(engine: Engine, rng: random.Random, count: int) -> list[date]:
    """Dates on and beside the days a status can change: `count` of them drawn from every
    stored slot's, and every patient's status date."""
    columns = (
        Slot.window_start,
        Slot.window_end,
        Slot.next_window_start,
        Slot.done_on,
        Slot.completed_on,
        Slot.due_on,
    )
    with engine.connect() as connection:
        days = {day for row in connection.execute(select(*columns)) for day in row if day}
        stops = {day for (day,) in connection.execute(select(Patient.status_on)) if day}
    near = beside(days)
    return rng.sample(near, min(count, len(near))) + beside(stops)


def beside(days: set[date]) -> list[date]:
    """Each day with the days before and after it."""
    return sorted({day + timedelta(days=k) for day in days for k in (-1, 0, 1)})


def conditions(on: date, last: date) -> dict[str, Any]:
    never, after = overdue_halves(Slot, on)
    return {
        "open": is_open(Slot),
        "not_completed": not_completed_by(Slot, on),
        "pending": pending_on(Slot, on),
        "due_between": due_between(Slot, on, last),
        "missed": missed_on(Slot, on),
        "overdue": overdue_on(Slot, on),
        "never_completed_half": never,
        "completed_after_half": after,
        "active": active_on(on),
        "waived": waived(Slot),
        "cancelled": cancelled(Slot),
        "done": done_by(Slot, on),
        "late": late_by(Slot, on),
    }


SLOT_FIELDS = (
    Slot.due_on,
    Slot.window_start,
    Slot.window_end,
    Slot.next_window_start,
    Slot.done_on,
    Slot.completed_on,
    Slot.is_waived,
    Slot.is_cancelled,
    Patient.status,
    Patient.status_on,
)


def evaluated(engine: Engine, on: date, last: date) -> list[dict[str, Any]]:
    """Every slot with each condition as the database decides it (CASE WHEN: true or not, as a
    WHERE clause would keep the row or not)."""
    labelled = [
        case((condition, True), else_=False).label(name)
        for name, condition in conditions(on, last).items()
    ]
    query = select(*SLOT_FIELDS, *labelled).join(Patient, Patient.id == Slot.patient_id)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def pure_status(row: dict[str, Any], on: date) -> SlotStatus:
    return slot_status(
        on=on,
        window_start=row["window_start"],
        window_end=row["window_end"],
        next_window_start=row["next_window_start"],
        done_on=row["done_on"],
        completed_on=row["completed_on"],
        is_waived=row["is_waived"],
        is_cancelled=row["is_cancelled"],
    )


def expected(row: dict[str, Any], on: date, last: date) -> dict[str, bool]:
    """What each condition must be, from the pure status (and, for "active", the pure stop)."""
    status = pure_status(row, on)
    is_open_ = status not in (SlotStatus.WAIVED, SlotStatus.CANCELLED)
    stopped_on = row["status_on"] if row["status"] in STOPPED_STATUSES else None
    return {
        "open": is_open_,
        "pending": status in PENDING,
        "due_between": status in PENDING and on <= row["due_on"] <= last,
        "missed": status is SlotStatus.MISSED,
        "overdue": status is SlotStatus.OVERDUE,
        "active": not is_cancelled_by_stop(on, stopped_on),
        "waived": status is SlotStatus.WAIVED,
        "cancelled": status is SlotStatus.CANCELLED,
        "done": status is SlotStatus.DONE,
        "late": status is SlotStatus.LATE,
        **({"not_completed": status in STILL_TO_DO} if is_open_ else {}),
    }


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    clinic=st.lists(patients(), min_size=1, max_size=3),
    seed=st.integers(0, 2**32),
    week=st.integers(0, 40),
)
def test_each_slot_predicate_agrees_with_the_pure_status(
    engine: Engine, clinic: list[Generated], seed: int, week: int
) -> None:
    store(engine, clinic)
    rng = random.Random(seed)
    for on in boundary_dates(engine, rng, count=25):
        last = on + timedelta(days=week)
        for row in evaluated(engine, on, last):
            want = expected(row, on, last)
            got = {name: bool(row[name]) for name in want}
            assert got == want, f"as of {on} (to {last}): {row}"
            halves = (bool(row["never_completed_half"]), bool(row["completed_after_half"]))
            assert sum(halves) == want["overdue"], f"the overdue halves as of {on}: {row}"
