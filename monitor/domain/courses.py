"""Infusion courses and the rules that make a list of courses valid (SPEC §3.1, §9).

Courses are numbered by date order, so adding an earlier course renumbers the later ones. Hard
errors refuse the change; warnings are accepted, recorded and shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

from dateutil.relativedelta import relativedelta

from monitor.errors import InvalidInput

MAX_COURSE_SPAN = timedelta(days=14)
USUAL_COURSES = 4


@dataclass(frozen=True)
class Course:
    """One course: its infusion dates, sorted and unique."""

    dates: tuple[date, ...]

    @property
    def first_on(self) -> date:
        return self.dates[0]

    @property
    def last_on(self) -> date:
        return self.dates[-1]


def make_course(dates: Iterable[date]) -> Course:
    """Build a course from infusion dates, refusing duplicates and spans over 14 days."""
    given = list(dates)
    if not given:
        raise InvalidInput("a course needs at least one infusion date")
    unique = sorted(set(given))
    if len(unique) != len(given):
        raise InvalidInput("infusion dates in one course must be unique")
    if unique[-1] - unique[0] > MAX_COURSE_SPAN:
        raise InvalidInput(
            f"infusion dates {unique[0]} to {unique[-1]} span more than 14 days: "
            "looks like two courses"
        )
    return Course(tuple(unique))


def order_courses(courses: Iterable[Course]) -> list[Course]:
    """Sort by first infusion and refuse overlapping courses."""
    ordered = sorted(courses, key=lambda c: c.first_on)
    for earlier, later in pairwise(ordered):
        if later.first_on <= earlier.last_on:
            raise InvalidInput(
                f"course {earlier.first_on}..{earlier.last_on} overlaps course "
                f"{later.first_on}..{later.last_on}"
            )
    return ordered


def course_warnings(courses: Sequence[Course]) -> list[str]:
    """Accepted oddities a nurse should see (SPEC §3.1); `courses` are in date order."""
    warnings = []
    for number, course in enumerate(courses, start=1):
        expected = 5 if number == 1 else 3
        if len(course.dates) != expected:
            warnings.append(
                f"course {number} has {len(course.dates)} infusion days, usually {expected}"
            )
        if number > 1:
            previous = courses[number - 2]
            if course.first_on < previous.last_on + relativedelta(months=12):
                warnings.append(
                    f"course {number} starts less than 12 months after course {number - 1}'s "
                    "last infusion"
                )
    if len(courses) > USUAL_COURSES:
        warnings.append(f"{len(courses)} courses recorded; more than {USUAL_COURSES} is unusual")
    return warnings


MAX_COURSE_DAYS = 15


def consecutive_dates(first_on: date, days: int, label: str) -> list[date]:
    """`days` consecutive infusion dates from `first_on` (a course typed as start and length);
    `label` names the length as the front end asks for it."""
    if not 1 <= days <= MAX_COURSE_DAYS:
        raise InvalidInput(f"{label} {days} must be between 1 and {MAX_COURSE_DAYS}")
    return [first_on + timedelta(days=n) for n in range(days)]
