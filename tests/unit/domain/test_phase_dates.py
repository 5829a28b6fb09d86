"""Due dates of a panel's phases (SPEC §10.2, §10.4), every expected date worked out by hand.

The property tests hold the phase engine against today's alemtuzumab engine
(`domain.schedule.build_schedule`) for `every_months = m`, and against relativedelta.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.courses import make_course
from monitor.domain.phases import (
    PanelPlan,
    build_panel,
    build_protocol,
    due_dates,
    phase_due_dates,
)
from monitor.domain.protocol import DEFAULT_PROTOCOL, PanelRule, Protocol
from monitor.domain.schedule import SlotKind, add_months
from tests.reference_schedule import build_schedule

D = date.fromisoformat


def panel(*phases: dict[str, Any], every_months: int | None = None) -> PanelPlan:
    table: dict[str, Any] = {"analytes": ["alt"]}
    if every_months is None:
        table["phases"] = list(phases)
    else:
        table["every_months"] = every_months
    return build_panel("lft", table, "protocols.test.panels.lft")


def dues(plan: PanelPlan, anchor: str, last_due: str) -> list[str]:
    return [d.isoformat() for d in due_dates(plan, D(anchor), D(last_due))]


@pytest.mark.parametrize(
    ("plan", "anchor", "last_due", "expected"),
    [
        pytest.param(  # SPEC §10.4's example: counted from the anchor, not from 29 Feb
            panel({"every": "1m", "from": "1m"}),
            "2024-01-31",
            "2024-05-31",
            ["2024-03-31", "2024-04-30", "2024-05-31"],
            id="jan_31_from_1m_every_1m_keeps_month_end",
        ),
        pytest.param(
            panel(every_months=1),
            "2024-01-31",
            "2024-04-30",
            ["2024-02-29", "2024-03-31", "2024-04-30"],
            id="every_months_clamps_february_then_returns_to_the_31st",
        ),
        pytest.param(
            panel({"every": "3m"}),
            "2024-02-29",
            "2025-02-28",
            ["2024-05-29", "2024-08-29", "2024-11-29", "2025-02-28"],
            id="leap_day_anchor_lands_on_28_february_a_year_on",
        ),
        pytest.param(
            panel({"every": "2w", "until": "6w"}, {"every": "1m"}),
            "2024-01-01",
            "2024-05-12",
            ["2024-01-15", "2024-01-29", "2024-02-12", "2024-03-12", "2024-04-12", "2024-05-12"],
            id="weeks_then_months_from_the_week_until",
        ),
        pytest.param(  # 31 Jan 2024 + 6 months = 31 Jul 2024 = 26 weeks exactly, inclusive
            panel({"every": "2w", "until": "6m"}, {"every": "2m"}),
            "2024-01-31",
            "2025-01-31",
            [
                "2024-02-14",
                "2024-02-28",
                "2024-03-13",
                "2024-03-27",
                "2024-04-10",
                "2024-04-24",
                "2024-05-08",
                "2024-05-22",
                "2024-06-05",
                "2024-06-19",
                "2024-07-03",
                "2024-07-17",
                "2024-07-31",
                "2024-09-30",
                "2024-11-30",
                "2025-01-31",
            ],
            id="fortnightly_for_6_months_then_every_2_months_from_the_anchor",
        ),
        pytest.param(
            panel({"every": "1m", "until": "3m"}, {"at": ["1m", "3m"]}),
            "2024-01-15",
            "2024-12-31",
            ["2024-02-15", "2024-03-15", "2024-04-15"],
            id="a_date_two_phases_give_is_one_slot",
        ),
        pytest.param(
            panel({"at": ["6m", "2m"]}),
            "2024-01-31",
            "2024-12-31",
            ["2024-03-31", "2024-07-31"],
            id="at_offsets_in_date_order",
        ),
        pytest.param(
            panel({"at": ["2m", "6m", "1w"]}),
            "2024-01-31",
            "2024-05-31",
            ["2024-02-07", "2024-03-31"],
            id="at_offsets_past_the_series_end_are_dropped",
        ),
        pytest.param(
            panel({"at": ["1w"]}, {"every": "3m", "from": "1m"}),
            "2024-01-31",
            "2024-12-31",
            ["2024-02-07", "2024-05-31", "2024-08-31", "2024-11-30"],
            id="every_after_at_starts_at_its_from",
        ),
        pytest.param(
            panel({"every": "1m", "from": "1d", "until": "60d"}),
            "2024-01-31",
            "2024-12-31",
            ["2024-03-01"],
            id="months_from_a_day_offset_count_from_that_day_until_inclusive_day_60",
        ),
        pytest.param(
            panel({"every": "1w", "from": "1m", "until": "2m"}),
            "2024-01-31",
            "2024-12-31",
            ["2024-03-07", "2024-03-14", "2024-03-21", "2024-03-28"],
            id="weeks_from_a_month_offset_start_at_the_clamped_29_february",
        ),
        pytest.param(
            panel({"every": "1m", "until": "12m"}),
            "2024-01-10",
            "2024-04-09",
            ["2024-02-10", "2024-03-10"],
            id="the_callers_bound_cuts_a_phase_before_its_until",
        ),
        pytest.param(
            panel({"every": "10d"}),
            "2024-01-01",
            "2024-01-31",
            ["2024-01-11", "2024-01-21", "2024-01-31"],
            id="days_with_the_series_end_inclusive",
        ),
        pytest.param(
            panel({"every": "1m"}),
            "2024-01-10",
            "2024-02-09",
            [],
            id="no_date_before_the_first_step",
        ),
    ],
)
def test_due_dates_of_a_panel(
    plan: PanelPlan, anchor: str, last_due: str, expected: list[str]
) -> None:
    assert dues(plan, anchor, last_due) == expected


def test_an_every_phase_with_until_stops_at_it_whatever_the_bound() -> None:
    plan = panel({"every": "1m", "until": "2m"}, {"at": ["12m"]})
    (first, _) = plan.phases
    assert [d.isoformat() for d in phase_due_dates(first, D("2024-01-31"), D("2030-01-01"))] == [
        "2024-02-29",
        "2024-03-31",
    ]


# --- properties ------------------------------------------------------------------------------

anchors = st.dates(min_value=date(1990, 1, 1), max_value=date(2150, 12, 31))


@given(anchors, st.integers(1, 36), st.integers(1, 240))
def test_every_months_gives_todays_alemtuzumab_recurring_dates(
    anchor: date, every: int, monitoring_months: int
) -> None:
    course = make_course([anchor - timedelta(days=4), anchor])
    rule = PanelRule("lft", every, 7, 7, ("alt",), True)
    today = build_schedule([course], Protocol((rule,), monitoring_months))
    expected = [s.due_on for s in today if s.kind is SlotKind.RECURRING]
    last_due = add_months(anchor, monitoring_months)
    assert due_dates(panel(every_months=every), anchor, last_due) == expected


@given(anchors, st.integers(1, 36), st.integers(1, 72), st.integers(1, 800))
def test_every_months_before_a_second_course_gives_todays_dates(
    anchor: date, every: int, monitoring_months: int, gap_days: int
) -> None:
    first = make_course([anchor])
    second = make_course([anchor + timedelta(days=gap_days)])
    rule = PanelRule("lft", every, 7, 7, ("alt",), False)
    today = build_schedule([first, second], Protocol((rule,), monitoring_months))
    expected = [s.due_on for s in today if s.course == 1]
    last_due = min(add_months(anchor, monitoring_months), second.first_on - timedelta(days=1))
    assert due_dates(panel(every_months=every), anchor, last_due) == expected


@given(anchors, st.integers(0, 24), st.integers(1, 12), st.integers(1, 120))
def test_months_and_months_count_from_the_anchor(
    anchor: date, start: int, every: int, span: int
) -> None:
    plan = panel({"every": f"{every}m", "from": f"{start}m"})
    last_due = anchor + relativedelta(months=start + span)
    got = due_dates(plan, anchor, last_due)
    count = span // every
    assert got == [anchor + relativedelta(months=start + k * every) for k in range(1, count + 1)]


@given(
    anchors,
    st.sampled_from(["d", "w", "m"]),
    st.integers(1, 8),
    st.integers(1, 6),
    st.integers(1, 400),
)
def test_splitting_a_phase_at_a_multiple_of_its_step_changes_nothing(
    anchor: date, unit: str, every: int, steps: int, horizon_days: int
) -> None:
    whole = panel({"every": f"{every}{unit}"})
    split = panel(
        {"every": f"{every}{unit}", "until": f"{every * steps}{unit}"}, {"every": f"{every}{unit}"}
    )
    last_due = anchor + timedelta(days=horizon_days * 3)
    assert due_dates(split, anchor, last_due) == due_dates(whole, anchor, last_due)


@given(
    anchors,
    st.lists(st.sampled_from(["3d", "2w", "1m", "6w", "2m", "90d", "3m", "6m"]), max_size=3),
    st.sampled_from(["1w", "2w", "1m", "3m"]),
    st.integers(0, 800),
)
def test_due_dates_are_sorted_unique_and_inside_the_series(
    anchor: date, at: list[str], every: str, horizon_days: int
) -> None:
    phases: list[dict[str, Any]] = [{"every": every, "until": "6m"}]
    if at:
        phases.append({"at": sorted(set(at))})
    phases.append({"every": "2m", "from": "6m"})
    last_due = anchor + timedelta(days=horizon_days)
    got = due_dates(panel(*phases), anchor, last_due)
    assert got == sorted(set(got))
    assert all(anchor < d <= last_due for d in got)


ALEMTUZUMAB_TABLE: dict[str, Any] = {
    "panels": {
        rule.name: {
            "analytes": list(rule.analytes),
            "baseline": rule.baseline,
            "window_before_days": rule.window_before_days,
            "window_after_days": rule.window_after_days,
            "every_months": rule.every_months,
        }
        for rule in DEFAULT_PROTOCOL.panels
    }
}


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 900)), min_size=1, max_size=4), anchors)
def test_the_default_protocol_as_data_gives_todays_recurring_slots(
    gaps: list[tuple[int, int]], start: date
) -> None:
    courses, first_on = [], start
    for extra_days, gap in gaps:
        course = make_course([first_on + timedelta(days=d) for d in range(extra_days + 1)])
        courses.append(course)
        first_on = course.last_on + timedelta(days=gap)
    plan = build_protocol("alemtuzumab", ALEMTUZUMAB_TABLE)
    today = build_schedule(courses, DEFAULT_PROTOCOL)
    for panel_plan in plan.panels:
        for number, course in enumerate(courses, start=1):
            last_due = add_months(course.last_on, plan.monitoring_months or 0)
            if number < len(courses):
                last_due = min(last_due, courses[number].first_on - timedelta(days=1))
            expected = [
                s.due_on
                for s in today
                if (s.panel, s.course, s.kind) == (panel_plan.name, number, SlotKind.RECURRING)
            ]
            assert due_dates(panel_plan, course.last_on, last_due) == expected
