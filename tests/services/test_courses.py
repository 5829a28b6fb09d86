"""`add_course`, called directly: the course is stored, its slots exist once the unit of work
commits, the warnings are only the new ones, and a refused course writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.errors import InvalidInput
from monitor.services.people.courses import add_course
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Course, Infusion, Slot
from tests.services.clinic import COURSE, FEBRUARY, MRN, NOW, PROTOCOL, audit_entries, count, enrol

SECOND = [date(2026, 1, 12) + timedelta(days=d) for d in range(3)]
EARLY = [date(2025, 10, 6) + timedelta(days=d) for d in range(3)]  # under 12 months after


def course(engine: Engine, dates: list[date]) -> list[str]:
    with unit_of_work(engine, PROTOCOL) as session:
        return add_course(session, mrn=MRN, infused_on=dates, actor="cli:test",
                          now=NOW)  # fmt: skip


def slot_panels(engine: Engine, due_on: date) -> list[str]:
    with unit_of_work(engine) as session:
        query = select(Slot.panel).where(Slot.due_on == due_on).order_by(Slot.panel)
        return list(session.scalars(query))


def test_a_course_brings_its_schedule_once_committed(engine: Engine) -> None:
    enrol(engine, course=False)
    assert count(engine, Slot) == 0
    assert course(engine, COURSE) == []
    assert slot_panels(engine, COURSE[0]) == ["cbc", "creatinine", "lft", "skin", "tsh",
                                              "urinalysis"]  # fmt: skip
    assert slot_panels(engine, FEBRUARY) == ["cbc", "creatinine", "lft", "urinalysis"]
    [entry] = audit_entries(engine, "course.add")
    assert entry.after == {"protocol": "alemtuzumab", "dates": [d.isoformat() for d in COURSE]}


def test_only_the_new_courses_warnings_are_returned(engine: Engine) -> None:
    enrol(engine, course=False)
    assert course(engine, COURSE[:4]) == ["course 1 has 4 infusion days, usually 5"]
    assert course(engine, EARLY) == [
        "course 2 starts less than 12 months after course 1's last infusion"
    ]
    assert count(engine, Course) == 2


def test_a_second_course_extends_the_schedule(engine: Engine) -> None:
    enrol(engine)
    before = count(engine, Slot)
    course(engine, SECOND)
    assert count(engine, Slot) > before
    with unit_of_work(engine) as session:
        courses = set(session.scalars(select(Slot.course)))
    assert courses == {1, 2}


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        ([], "a course needs at least one infusion date"),
        ([COURSE[0], COURSE[0]], "infusion dates in one course must be unique"),
        ([date(2026, 1, 1), date(2026, 1, 16)], "span more than 14 days: looks like two courses"),
        ([COURSE[2]], r"course 2025-01-06..2025-01-10 overlaps course 2025-01-08..2025-01-08"),
    ],
)
def test_a_refused_course_writes_nothing(engine: Engine, dates: list[date], message: str) -> None:
    enrol(engine)
    slots, audited = count(engine, Slot), count(engine, AuditEntry)
    with pytest.raises(InvalidInput, match=message):
        course(engine, dates)
    assert (count(engine, Course), count(engine, Infusion)) == (1, len(COURSE))
    assert (count(engine, Slot), count(engine, AuditEntry)) == (slots, audited)
