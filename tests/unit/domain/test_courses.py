"""Course validation (SPEC §3.1 "Course validation", §9 "Courses and slots")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitor.domain.courses import Course, course_warnings, make_course, order_courses
from monitor.errors import InvalidInput

D = date.fromisoformat


def days(first: str, count: int) -> list[date]:
    start = D(first)
    return [start + timedelta(days=i) for i in range(count)]


def course(first: str, count: int) -> Course:
    return make_course(days(first, count))


# --- one course -------------------------------------------------------------------------------


def test_course_dates_are_sorted_and_give_first_and_last_infusion() -> None:
    made = make_course([D("2024-01-10"), D("2024-01-08"), D("2024-01-12"), D("2024-01-09")])
    assert made.dates == (D("2024-01-08"), D("2024-01-09"), D("2024-01-10"), D("2024-01-12"))
    assert (made.first_on, made.last_on) == (D("2024-01-08"), D("2024-01-12"))


def test_a_single_infusion_is_a_course() -> None:
    made = make_course([D("2024-01-08")])
    assert made.first_on == made.last_on == D("2024-01-08")


def test_duplicate_infusion_dates_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unique"):
        make_course([D("2024-01-08"), D("2024-01-09"), D("2024-01-08")])


def test_a_course_without_dates_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        make_course([])


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("2024-01-01", "2024-01-15"),  # exactly 14 days
        ("2024-02-20", "2024-03-05"),  # 14 days across 29 February
        ("2024-12-25", "2025-01-08"),  # 14 days across the new year
    ],
)
def test_a_course_spanning_14_days_is_accepted(first: str, last: str) -> None:
    made = make_course([D(first), D(last)])
    assert made.last_on - made.first_on == timedelta(days=14)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("2024-01-01", "2024-01-16"),  # 15 days
        ("2024-02-20", "2024-03-06"),  # 15 days across 29 February
        ("2024-01-08", "2025-01-08"),  # two courses typed as one
    ],
)
def test_a_course_spanning_more_than_14_days_looks_like_two_courses(first: str, last: str) -> None:
    with pytest.raises(InvalidInput, match="looks like two courses"):
        make_course([D(first), D(first) + timedelta(days=1), D(last)])


def test_a_missed_day_extends_the_course() -> None:
    made = make_course([*days("2024-01-08", 2), *days("2024-01-11", 3)])
    assert len(made.dates) == 5
    assert made.last_on == D("2024-01-13")


# --- ordering and overlap -------------------------------------------------------------------


def test_order_courses_sorts_by_first_infusion() -> None:
    first, second, third = course("2020-03-02", 5), course("2021-03-08", 3), course("2023-06-12", 3)
    assert order_courses([third, first, second]) == [first, second, third]
    assert order_courses([]) == []


def test_courses_on_consecutive_days_do_not_overlap() -> None:
    first, second = course("2024-01-01", 5), course("2024-01-06", 3)
    assert order_courses([second, first]) == [first, second]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (days("2024-01-01", 5), days("2024-01-05", 3)),  # share 2024-01-05
        (days("2024-01-01", 5), days("2024-01-01", 3)),  # same first day
        ([D("2024-01-01"), D("2024-01-10")], days("2024-01-03", 2)),  # inside the other's span
        (days("2024-01-03", 5), [D("2024-01-01"), D("2024-01-04")]),  # starts earlier, ends inside
    ],
)
def test_overlapping_courses_are_refused(a: list[date], b: list[date]) -> None:
    with pytest.raises(InvalidInput, match="overlaps"):
        order_courses([make_course(a), make_course(b)])
    with pytest.raises(InvalidInput, match="overlaps"):
        order_courses([make_course(b), make_course(a)])


# --- warnings -----------------------------------------------------------------------------------


def test_the_usual_five_then_three_day_courses_give_no_warning() -> None:
    courses = [
        course("2020-03-02", 5),
        course("2021-03-08", 3),
        course("2023-06-12", 3),
        course("2025-09-15", 3),
    ]
    assert course_warnings(courses) == []
    assert course_warnings([]) == []


def test_a_course_exactly_12_months_after_the_previous_last_infusion_gives_no_warning() -> None:
    # L1 = 2024-01-12; L1 + 12 months = 2025-01-12.
    assert course_warnings([course("2024-01-08", 5), course("2025-01-12", 3)]) == []


def test_a_course_less_than_12_months_after_the_previous_gives_a_warning() -> None:
    warnings = course_warnings([course("2024-01-08", 5), course("2025-01-11", 3)])
    assert len(warnings) == 1
    assert "course 2" in warnings[0]
    assert "less than 12 months" in warnings[0]


def test_12_months_after_29_february_is_28_february() -> None:
    first = course("2024-02-25", 5)  # last infusion 2024-02-29
    assert course_warnings([first, course("2025-02-28", 3)]) == []
    assert len(course_warnings([first, course("2025-02-27", 3)])) == 1


def test_the_warning_names_the_course_that_came_too_soon() -> None:
    courses = [course("2020-03-02", 5), course("2021-03-08", 3), course("2021-09-01", 3)]
    [warning] = course_warnings(courses)
    assert "course 3" in warning
    assert "course 2" in warning


def test_more_than_four_courses_gives_a_warning() -> None:
    courses = [
        course("2020-03-02", 5),
        course("2021-03-08", 3),
        course("2023-06-12", 3),
        course("2025-09-15", 3),
        course("2027-01-04", 3),
    ]
    [warning] = course_warnings(courses)
    assert "5 courses" in warning


@pytest.mark.parametrize("infusion_days", [1, 3, 4, 6])
def test_a_first_course_that_is_not_5_days_gives_a_warning(infusion_days: int) -> None:
    [warning] = course_warnings([course("2024-01-08", infusion_days)])
    assert "course 1" in warning
    assert f"{infusion_days} infusion days" in warning
    assert "usually 5" in warning


@pytest.mark.parametrize("infusion_days", [1, 2, 4, 5])
def test_a_later_course_that_is_not_3_days_gives_a_warning(infusion_days: int) -> None:
    [warning] = course_warnings([course("2024-01-08", 5), course("2025-02-03", infusion_days)])
    assert "course 2" in warning
    assert f"{infusion_days} infusion days" in warning
    assert "usually 3" in warning


def test_infusion_days_are_counted_not_the_span() -> None:
    # 5 infusions over 6 calendar days (a missed day) is still a 5-day course.
    first = make_course([*days("2024-01-08", 2), *days("2024-01-11", 3)])
    second = make_course([D("2025-02-03"), D("2025-02-05"), D("2025-02-06")])
    assert course_warnings([first, second]) == []


def test_several_warnings_are_all_reported() -> None:
    courses = [course("2024-01-08", 4), course("2024-06-03", 5)]
    warnings = course_warnings(courses)
    assert len(warnings) == 3
    assert any("course 1" in w and "usually 5" in w for w in warnings)
    assert any("course 2" in w and "usually 3" in w for w in warnings)
    assert any("less than 12 months" in w for w in warnings)
