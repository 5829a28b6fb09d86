"""The schedule engine against SPEC §3 and §3.1, with every expected date worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitor.domain.courses import Course, make_course
from monitor.domain.protocol import DEFAULT_PROTOCOL, PanelRule, Protocol
from monitor.domain.schedule import PlannedSlot, SlotKind
from tests.reference_schedule import build_schedule, monitoring_end

D = date.fromisoformat
PANELS = ("cbc", "creatinine", "urinalysis", "tsh", "lft", "skin")
MONTHLY = ("cbc", "creatinine", "urinalysis", "lft")


def course(first: str, infusion_days: int) -> Course:
    """A course of consecutive daily infusions starting on `first`."""
    start = D(first)
    return make_course(start + timedelta(days=i) for i in range(infusion_days))


def pick(
    slots: list[PlannedSlot],
    panel: str,
    *,
    course: int | None = None,
    kind: SlotKind | None = None,
) -> list[PlannedSlot]:
    return [
        s
        for s in slots
        if s.panel == panel
        and (course is None or s.course == course)
        and (kind is None or s.kind == kind)
    ]


def dues(slots: list[PlannedSlot]) -> list[str]:
    return [s.due_on.isoformat() for s in slots]


def recurring_dues(courses: list[Course], panel: str, number: int) -> list[str]:
    schedule = build_schedule(courses, DEFAULT_PROTOCOL)
    return dues(pick(schedule, panel, course=number, kind=SlotKind.RECURRING))


# Course 1: 5 days, 8-12 January 2024 (F1 = 2024-01-08, L1 = 2024-01-12).
# Course 2: 3 days, 13-15 January 2025, i.e. 12 months and a day after L1
# (F2 = 2025-01-13, L2 = 2025-01-15).
COURSE_1 = course("2024-01-08", 5)
COURSE_2 = course("2025-01-13", 3)
TWO_COURSES = [COURSE_1, COURSE_2]


# --- the default protocol is SPEC §3's table -------------------------------------------------


def test_default_protocol_is_the_spec_table() -> None:
    assert DEFAULT_PROTOCOL.panels == (
        PanelRule("cbc", 1, 7, 7, ("platelets", "neutrophils", "hemoglobin"), True),
        PanelRule("creatinine", 1, 7, 7, ("creatinine",), True),
        PanelRule("urinalysis", 1, 7, 7, ("urine_rbc", "urine_protein"), True),
        PanelRule("tsh", 3, 14, 14, ("tsh",), True),
        PanelRule("lft", 1, 7, 7, ("alt", "bilirubin"), True),
        PanelRule("skin", 12, 30, 30, ("skin_exam",), True),
    )
    assert DEFAULT_PROTOCOL.monitoring_months == 48
    assert DEFAULT_PROTOCOL.baseline_window_days == 30


def test_protocol_panel_lookup_refuses_an_unknown_panel() -> None:
    assert DEFAULT_PROTOCOL.panel("tsh").every_months == 3
    assert DEFAULT_PROTOCOL.panel_names == PANELS
    with pytest.raises(KeyError):
        DEFAULT_PROTOCOL.panel("ecg")


# --- a 5-day course, then a 3-day course 12 months later -------------------------------------


@pytest.mark.parametrize("panel", PANELS)
def test_each_course_opens_with_a_baseline_slot_due_on_its_first_infusion(panel: str) -> None:
    baselines = pick(build_schedule(TWO_COURSES, DEFAULT_PROTOCOL), panel, kind=SlotKind.BASELINE)
    assert [(s.course, s.due_on, s.window_start, s.window_end) for s in baselines] == [
        (1, D("2024-01-08"), D("2023-12-09"), D("2024-01-08")),
        (2, D("2025-01-13"), D("2024-12-14"), D("2025-01-13")),
    ]


@pytest.mark.parametrize("panel", MONTHLY)
def test_course_1_monthly_slots_run_from_its_last_infusion_until_course_2(panel: str) -> None:
    assert recurring_dues(TWO_COURSES, panel, 1) == [
        "2024-02-12",
        "2024-03-12",
        "2024-04-12",
        "2024-05-12",
        "2024-06-12",
        "2024-07-12",
        "2024-08-12",
        "2024-09-12",
        "2024-10-12",
        "2024-11-12",
        "2024-12-12",
        "2025-01-12",  # the day before course 2's first infusion: kept
    ]


@pytest.mark.parametrize("panel", MONTHLY)
def test_course_2_monthly_slots_restart_from_its_own_last_infusion(panel: str) -> None:
    course_2 = recurring_dues(TWO_COURSES, panel, 2)
    assert len(course_2) == 48
    assert course_2[:3] == ["2025-02-15", "2025-03-15", "2025-04-15"]
    assert course_2[-1] == "2029-01-15"


def test_tsh_is_every_3_months_from_each_anchor() -> None:
    assert recurring_dues(TWO_COURSES, "tsh", 1) == [
        "2024-04-12",
        "2024-07-12",
        "2024-10-12",
        "2025-01-12",
    ]
    course_2 = recurring_dues(TWO_COURSES, "tsh", 2)
    assert len(course_2) == 16
    assert course_2[:3] == ["2025-04-15", "2025-07-15", "2025-10-15"]
    assert course_2[-1] == "2029-01-15"


def test_skin_is_every_12_months_from_each_anchor() -> None:
    assert recurring_dues(TWO_COURSES, "skin", 1) == ["2025-01-12"]
    assert recurring_dues(TWO_COURSES, "skin", 2) == [
        "2026-01-15",
        "2027-01-15",
        "2028-01-15",
        "2029-01-15",
    ]


@pytest.mark.parametrize(
    ("panel", "due_on", "window_start", "window_end"),
    [
        ("cbc", "2025-02-15", "2025-02-08", "2025-02-22"),
        ("creatinine", "2025-02-15", "2025-02-08", "2025-02-22"),
        ("urinalysis", "2025-02-15", "2025-02-08", "2025-02-22"),
        ("lft", "2025-02-15", "2025-02-08", "2025-02-22"),
        ("cbc", "2025-01-12", "2025-01-05", "2025-01-19"),
        ("cbc", "2029-01-15", "2029-01-08", "2029-01-22"),
        ("tsh", "2025-04-15", "2025-04-01", "2025-04-29"),
        ("tsh", "2025-01-12", "2024-12-29", "2025-01-26"),
        ("skin", "2026-01-15", "2025-12-16", "2026-02-14"),
        ("skin", "2025-01-12", "2024-12-13", "2025-02-11"),
    ],
)
def test_recurring_window_is_the_panels_days_before_and_after_the_due_date(
    panel: str, due_on: str, window_start: str, window_end: str
) -> None:
    schedule = build_schedule(TWO_COURSES, DEFAULT_PROTOCOL)
    [slot] = [s for s in pick(schedule, panel) if s.due_on == D(due_on)]
    assert slot.kind == SlotKind.RECURRING
    assert (slot.window_start, slot.window_end) == (D(window_start), D(window_end))


def test_monitoring_ends_48_months_after_the_last_infusion_of_the_last_course() -> None:
    assert monitoring_end(TWO_COURSES, DEFAULT_PROTOCOL) == D("2029-01-15")
    assert monitoring_end([COURSE_1], DEFAULT_PROTOCOL) == D("2028-01-12")


def test_no_course_means_no_slots_and_no_monitoring_end() -> None:
    assert build_schedule([], DEFAULT_PROTOCOL) == []
    assert monitoring_end([], DEFAULT_PROTOCOL) is None


@pytest.mark.parametrize(
    ("panel", "count"),
    [
        # 2 baselines + 12 (course 1) + 48 (course 2)
        ("cbc", 62),
        ("creatinine", 62),
        ("urinalysis", 62),
        ("lft", 62),
        # 2 baselines + 4 + 16
        ("tsh", 22),
        # 2 baselines + 1 + 4
        ("skin", 7),
    ],
)
def test_two_course_slot_count_per_panel(panel: str, count: int) -> None:
    assert len(pick(build_schedule(TWO_COURSES, DEFAULT_PROTOCOL), panel)) == count


def test_no_slot_is_due_after_monitoring_end() -> None:
    schedule = build_schedule(TWO_COURSES, DEFAULT_PROTOCOL)
    assert max(s.due_on for s in schedule) == D("2029-01-15")


def test_schedule_is_ordered_by_panel_in_protocol_order_then_due_date() -> None:
    schedule = build_schedule(TWO_COURSES, DEFAULT_PROTOCOL)
    keys = [(PANELS.index(s.panel), s.due_on) for s in schedule]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_a_slot_due_on_the_next_courses_first_infusion_is_dropped() -> None:
    # Course 2 starts exactly 12 months after L1: the 12th monthly slot, the 4th TSH and the
    # first skin slot of course 1 (all due 2025-01-12) are not kept (due_on < F2 fails).
    courses = [COURSE_1, course("2025-01-12", 3)]
    course_1 = recurring_dues(courses, "cbc", 1)
    assert len(course_1) == 11
    assert course_1[-1] == "2024-12-12"
    assert recurring_dues(courses, "tsh", 1) == ["2024-04-12", "2024-07-12", "2024-10-12"]
    assert recurring_dues(courses, "skin", 1) == []


# --- month ends: counted from the anchor, never stepped -------------------------------------


@pytest.mark.parametrize(
    ("last_on", "k", "due_on"),
    [
        ("2024-01-29", 1, "2024-02-29"),
        ("2024-01-29", 2, "2024-03-29"),
        ("2024-01-29", 13, "2025-02-28"),
        ("2024-01-29", 14, "2025-03-29"),
        ("2023-01-29", 1, "2023-02-28"),
        ("2023-01-29", 2, "2023-03-29"),
        ("2024-01-30", 1, "2024-02-29"),
        ("2024-01-30", 2, "2024-03-30"),
        ("2024-01-30", 3, "2024-04-30"),
        ("2024-01-30", 4, "2024-05-30"),
        ("2024-01-30", 13, "2025-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2024-01-31", 2, "2024-03-31"),
        ("2024-01-31", 3, "2024-04-30"),
        ("2024-01-31", 4, "2024-05-31"),
        ("2024-01-31", 13, "2025-02-28"),
        ("2024-01-31", 14, "2025-03-31"),
        ("2023-01-31", 1, "2023-02-28"),
        ("2023-01-31", 2, "2023-03-31"),
        ("2023-01-31", 13, "2024-02-29"),
        ("2024-02-29", 1, "2024-03-29"),
        ("2024-02-29", 11, "2025-01-29"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2024-02-29", 13, "2025-03-29"),
        ("2024-02-29", 24, "2026-02-28"),
        ("2024-02-29", 48, "2028-02-29"),
    ],
)
def test_month_end_anchor_is_clamped_per_month_counted_from_the_anchor(
    last_on: str, k: int, due_on: str
) -> None:
    anchor = D(last_on)
    courses = [make_course(anchor - timedelta(days=i) for i in range(5))]
    assert recurring_dues(courses, "cbc", 1)[k - 1] == due_on


def test_jan_31_anchor_keeps_month_end() -> None:
    courses = [course("2024-01-27", 5)]  # last infusion 31 January 2024 (leap year)
    assert recurring_dues(courses, "cbc", 1)[:7] == [
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-31",
        "2024-06-30",
        "2024-07-31",
        "2024-08-31",
    ]


def test_jan_31_anchor_tsh_is_counted_from_the_anchor_not_from_30_april() -> None:
    courses = [course("2024-01-27", 5)]
    assert recurring_dues(courses, "tsh", 1)[:4] == [
        "2024-04-30",
        "2024-07-31",
        "2024-10-31",
        "2025-01-31",
    ]


def test_feb_29_anchor_skin_falls_on_28_february_until_the_next_leap_year() -> None:
    courses = [course("2024-02-25", 5)]  # last infusion 29 February 2024
    assert recurring_dues(courses, "skin", 1) == [
        "2025-02-28",
        "2026-02-28",
        "2027-02-28",
        "2028-02-29",
    ]
    assert monitoring_end(courses, DEFAULT_PROTOCOL) == D("2028-02-29")
    assert recurring_dues(courses, "cbc", 1)[-1] == "2028-02-29"
    assert len(recurring_dues(courses, "cbc", 1)) == 48


@pytest.mark.parametrize(
    ("last_on", "due_on", "window_start", "window_end"),
    [
        ("2024-01-31", "2024-02-29", "2024-02-22", "2024-03-07"),
        ("2023-01-31", "2023-02-28", "2023-02-21", "2023-03-07"),
        ("2024-01-31", "2024-03-31", "2024-03-24", "2024-04-07"),
    ],
)
def test_clamped_due_date_window_counts_days_from_the_clamped_date(
    last_on: str, due_on: str, window_start: str, window_end: str
) -> None:
    anchor = D(last_on)
    courses = [make_course(anchor - timedelta(days=i) for i in range(5))]
    cbc = pick(build_schedule(courses, DEFAULT_PROTOCOL), "cbc", kind=SlotKind.RECURRING)
    [slot] = [s for s in cbc if s.due_on == D(due_on)]
    assert (slot.window_start, slot.window_end) == (D(window_start), D(window_end))


def test_jan_31_anchor_monitoring_end_and_last_slot() -> None:
    courses = [course("2024-01-27", 5)]
    assert monitoring_end(courses, DEFAULT_PROTOCOL) == D("2028-01-31")
    monthly = recurring_dues(courses, "cbc", 1)
    assert len(monthly) == 48
    assert monthly[-1] == "2028-01-31"


# --- third and fourth courses -------------------------------------------------------------------

# F1 2020-03-02, L1 2020-03-06; F2 2021-03-08, L2 2021-03-10; F3 2023-06-12, L3 2023-06-14;
# F4 2025-09-15, L4 2025-09-17.
FOUR_COURSES = [
    course("2020-03-02", 5),
    course("2021-03-08", 3),
    course("2023-06-12", 3),
    course("2025-09-15", 3),
]


@pytest.mark.parametrize("panel", PANELS)
def test_four_courses_have_four_numbered_baselines(panel: str) -> None:
    baselines = pick(build_schedule(FOUR_COURSES, DEFAULT_PROTOCOL), panel, kind=SlotKind.BASELINE)
    assert [(s.course, s.due_on, s.window_start) for s in baselines] == [
        (1, D("2020-03-02"), D("2020-02-01")),
        (2, D("2021-03-08"), D("2021-02-06")),
        (3, D("2023-06-12"), D("2023-05-13")),
        (4, D("2025-09-15"), D("2025-08-16")),
    ]


@pytest.mark.parametrize(
    ("panel", "number", "count", "first", "last"),
    [
        ("cbc", 1, 12, "2020-04-06", "2021-03-06"),
        ("cbc", 2, 27, "2021-04-10", "2023-06-10"),
        ("cbc", 3, 27, "2023-07-14", "2025-09-14"),
        ("cbc", 4, 48, "2025-10-17", "2029-09-17"),
        ("tsh", 1, 4, "2020-06-06", "2021-03-06"),
        ("tsh", 2, 9, "2021-06-10", "2023-06-10"),
        ("tsh", 3, 9, "2023-09-14", "2025-09-14"),
        ("tsh", 4, 16, "2025-12-17", "2029-09-17"),
        ("skin", 1, 1, "2021-03-06", "2021-03-06"),
        ("skin", 2, 2, "2022-03-10", "2023-03-10"),
        ("skin", 3, 2, "2024-06-14", "2025-06-14"),
        ("skin", 4, 4, "2026-09-17", "2029-09-17"),
    ],
)
def test_third_and_fourth_courses_truncate_and_restart_the_clock(
    panel: str, number: int, count: int, first: str, last: str
) -> None:
    found = recurring_dues(FOUR_COURSES, panel, number)
    assert (len(found), found[0], found[-1]) == (count, first, last)


def test_four_courses_monitoring_end() -> None:
    assert monitoring_end(FOUR_COURSES, DEFAULT_PROTOCOL) == D("2029-09-17")
    cbc = pick(build_schedule(FOUR_COURSES, DEFAULT_PROTOCOL), "cbc")
    assert len(cbc) == 4 + 12 + 27 + 27 + 48


def test_every_slot_carries_its_course_number_and_kind() -> None:
    schedule = build_schedule(FOUR_COURSES, DEFAULT_PROTOCOL)
    firsts = [c.first_on for c in FOUR_COURSES] + [date.max]
    for slot in schedule:
        start, following = firsts[slot.course - 1], firsts[slot.course]
        if slot.kind == SlotKind.BASELINE:
            assert slot.due_on == start
        else:
            assert start < slot.due_on < following
    assert {s.kind for s in schedule} == {SlotKind.BASELINE, SlotKind.RECURRING}
    assert SlotKind.BASELINE == "baseline"
    assert SlotKind.RECURRING == "recurring"


# --- recomputing after a course is recorded -------------------------------------------------------


def test_a_later_course_truncates_the_earlier_courses_recurring_slots() -> None:
    before = build_schedule([COURSE_1], DEFAULT_PROTOCOL)
    after = build_schedule(TWO_COURSES, DEFAULT_PROTOCOL)
    monthly_before = pick(before, "cbc", kind=SlotKind.RECURRING)
    assert len(monthly_before) == 48
    assert monthly_before[-1].due_on == D("2028-01-12")
    # Recording course 2 keeps course 1's slots before 2025-01-13 unchanged and drops the rest.
    kept = pick(after, "cbc", course=1, kind=SlotKind.RECURRING)
    assert kept == [s for s in monthly_before if s.due_on < D("2025-01-13")]
    assert len(kept) == 12


def test_a_course_added_before_existing_ones_renumbers_them() -> None:
    alone = build_schedule([COURSE_2], DEFAULT_PROTOCOL)
    assert {s.course for s in alone} == {1}
    both = build_schedule(TWO_COURSES, DEFAULT_PROTOCOL)
    [baseline] = [s for s in pick(both, "cbc", kind=SlotKind.BASELINE) if s.course == 2]
    assert baseline.due_on == D("2025-01-13")


def test_recomputing_gives_the_same_slots() -> None:
    assert build_schedule(FOUR_COURSES, DEFAULT_PROTOCOL) == build_schedule(
        list(FOUR_COURSES), DEFAULT_PROTOCOL
    )


def test_a_planned_future_course_is_scheduled_like_a_given_one() -> None:
    planned = course("2031-05-05", 3)
    baselines = pick(build_schedule([COURSE_1, planned], DEFAULT_PROTOCOL), "cbc", course=2)
    assert baselines[0].kind == SlotKind.BASELINE
    assert (baselines[0].window_start, baselines[0].due_on) == (D("2031-04-05"), D("2031-05-05"))


# --- site settings -------------------------------------------------------------------------------


def test_site_protocol_settings_change_windows_duration_and_baselines() -> None:
    protocol = Protocol(
        panels=(
            PanelRule("cbc", 2, 3, 10, ("platelets",), baseline=True),
            PanelRule("skin", 6, 0, 0, ("skin_exam",), baseline=False),
        ),
        monitoring_months=12,
        baseline_window_days=14,
    )
    schedule = build_schedule([COURSE_1], protocol)
    cbc = pick(schedule, "cbc")
    assert (cbc[0].kind, cbc[0].window_start, cbc[0].window_end) == (
        SlotKind.BASELINE,
        D("2023-12-25"),
        D("2024-01-08"),
    )
    assert dues(cbc[1:]) == [
        "2024-03-12",
        "2024-05-12",
        "2024-07-12",
        "2024-09-12",
        "2024-11-12",
        "2025-01-12",
    ]
    assert (cbc[1].window_start, cbc[1].window_end) == (D("2024-03-09"), D("2024-03-22"))
    skin = pick(schedule, "skin")
    assert [(s.kind, s.due_on, s.window_start, s.window_end) for s in skin] == [
        (SlotKind.RECURRING, D("2024-07-12"), D("2024-07-12"), D("2024-07-12")),
        (SlotKind.RECURRING, D("2025-01-12"), D("2025-01-12"), D("2025-01-12")),
    ]
    assert monitoring_end([COURSE_1], protocol) == D("2025-01-12")
