"""Result matching and slot status as of a date D (SPEC §3.2, §9), on hand-picked dates.

One course, 8-12 January 2024 (last infusion 2024-01-12). Its creatinine slots:

    baseline   due 2024-01-08  window 2023-12-09 .. 2024-01-08
    k=1        due 2024-02-12  window 2024-02-05 .. 2024-02-19
    k=2        due 2024-03-12  window 2024-03-05 .. 2024-03-19   <- the slot most tests look at
    k=3        due 2024-04-12  window 2024-04-05 .. 2024-04-19
    ...
    k=48       due 2028-01-12  window 2028-01-05 .. 2028-01-19   (last: no next slot)
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitor.domain.courses import Course, make_course
from monitor.domain.protocol import DEFAULT_PROTOCOL
from monitor.domain.schedule import SlotKind
from monitor.domain.status import (
    CountedResult,
    SlotProgress,
    SlotStatus,
    is_cancelled_by_stop,
    match_results,
    slot_status,
)
from tests.reference_schedule import build_schedule, catalogue_of

D = date.fromisoformat
S = SlotStatus


def course(first: str, infusion_days: int) -> Course:
    start = D(first)
    return make_course(start + timedelta(days=i) for i in range(infusion_days))


ONE_COURSE = [course("2024-01-08", 5)]
# Course 2 on 13-15 January 2025. Course 1's last monthly slot is due 2025-01-12 (window
# 2025-01-05 .. 2025-01-19); course 2's baseline is due 2025-01-13 (window 2024-12-14 ..
# 2025-01-13); course 2's first monthly slot is due 2025-02-15 (window 2025-02-08 .. 2025-02-22).
TWO_COURSES = [*ONE_COURSE, course("2025-01-13", 3)]

CBC = ("platelets", "neutrophils", "hemoglobin")


def results(*pairs: tuple[str, str]) -> list[CountedResult]:
    return [CountedResult(analyte, D(on)) for analyte, on in pairs]


def creatinine_on(*days: str) -> list[CountedResult]:
    return results(*(("creatinine", on) for on in days))


def cbc_on(day: str) -> list[CountedResult]:
    return results(*((analyte, day) for analyte in CBC))


def progress_of(
    panel: str,
    due_on: str,
    found: list[CountedResult],
    courses: list[Course] = ONE_COURSE,
    kind: SlotKind | None = None,
) -> SlotProgress:
    schedule = build_schedule(courses, DEFAULT_PROTOCOL)
    matched = match_results(schedule, found, catalogue_of(DEFAULT_PROTOCOL))
    [progress] = [
        p
        for p in matched
        if p.slot.panel == panel
        and p.slot.due_on == D(due_on)
        and (kind is None or p.slot.kind == kind)
    ]
    return progress


def status_as_of(
    on: str,
    progress: SlotProgress,
    *,
    waived: bool = False,
    stopped_on: str | None = None,
) -> SlotStatus:
    return slot_status(
        on=D(on),
        window_start=progress.slot.window_start,
        window_end=progress.slot.window_end,
        next_window_start=progress.next_window_start,
        done_on=progress.done_on,
        completed_on=progress.completed_on,
        is_waived=waived,
        is_cancelled=is_cancelled_by_stop(
            progress.slot.due_on, D(stopped_on) if stopped_on else None
        ),
    )


# --- the march creatinine slot through time ---------------------------------------------------


@pytest.mark.parametrize(
    ("collected", "on", "expected"),
    [
        # no result at all
        ((), "2024-03-04", S.UPCOMING),
        ((), "2024-03-05", S.DUE),  # window_start
        ((), "2024-03-12", S.DUE),
        ((), "2024-03-19", S.DUE),  # window_end
        ((), "2024-03-20", S.OVERDUE),
        ((), "2024-04-04", S.OVERDUE),  # the day before the next window opens
        ((), "2024-04-05", S.MISSED),  # next slot's window_start
        ((), "2026-01-01", S.MISSED),
        # on time, including both window edges
        (("2024-03-05",), "2024-03-05", S.DONE),
        (("2024-03-19",), "2024-03-19", S.DONE),
        (("2024-03-12",), "2030-01-01", S.DONE),
        # a result collected after D does not count as of D
        (("2024-03-19",), "2024-03-18", S.DUE),
        (("2024-03-12",), "2024-03-04", S.UPCOMING),
        (("2024-03-21",), "2024-03-20", S.OVERDUE),
        # late: after window_end and before the next slot's window_start
        (("2024-03-20",), "2024-03-20", S.LATE),
        (("2024-03-20",), "2030-01-01", S.LATE),
        (("2024-04-04",), "2024-04-04", S.LATE),
        (("2024-04-04",), "2024-04-03", S.OVERDUE),
        # on the next slot's window_start: not late for this slot
        (("2024-04-05",), "2024-04-05", S.MISSED),
        (("2024-04-05",), "2024-04-30", S.MISSED),
        # the day before the window opens does not count for it
        (("2024-03-04",), "2024-03-12", S.DUE),
        (("2024-03-04",), "2024-03-20", S.OVERDUE),
        # an on-time result wins over an earlier-reported late one
        (("2024-03-25", "2024-03-15"), "2024-03-15", S.DONE),
        (("2024-03-25", "2024-03-15"), "2024-03-14", S.DUE),
    ],
)
def test_march_creatinine_slot_status(collected: tuple[str, ...], on: str, expected: S) -> None:
    progress = progress_of("creatinine", "2024-03-12", creatinine_on(*collected))
    assert status_as_of(on, progress) == expected


def test_a_late_result_before_D_makes_the_slot_late_not_missed() -> None:
    # 04-04 counts late for the March slot; collected on or before D=04-05, so late, not missed.
    progress = progress_of("creatinine", "2024-03-12", creatinine_on("2024-04-04"))
    assert status_as_of("2024-04-05", progress) == S.LATE
    assert progress.done_on is None
    assert progress.completed_on == D("2024-04-04")


def test_the_next_slots_window_start_belongs_to_the_next_slot() -> None:
    found = creatinine_on("2024-04-05")
    march = progress_of("creatinine", "2024-03-12", found)
    april = progress_of("creatinine", "2024-04-12", found)
    assert (march.done_on, march.completed_on) == (None, None)
    assert march.next_window_start == D("2024-04-05")
    assert status_as_of("2024-04-05", april) == S.DONE


def test_a_result_just_before_a_window_counts_late_for_the_previous_slot() -> None:
    found = creatinine_on("2024-03-04")
    february = progress_of("creatinine", "2024-02-12", found)
    assert status_as_of("2024-03-04", february) == S.LATE
    assert status_as_of("2024-03-03", february) == S.OVERDUE


def test_result_for_a_different_analyte_does_not_count() -> None:
    found = results(
        ("creatinine", "2024-03-12"), ("lymphocytes", "2024-03-12"), ("wbc", "2024-03-12")
    )
    progress = progress_of("cbc", "2024-03-12", found)
    assert status_as_of("2024-03-13", progress) == S.DUE
    assert progress.missing_on(D("2024-03-13")) == list(CBC)


# --- due, with the missing analytes ----------------------------------------------------------


def test_due_slot_reports_which_required_analytes_are_missing() -> None:
    found = results(
        ("platelets", "2024-03-06"), ("hemoglobin", "2024-03-07"), ("neutrophils", "2024-03-12")
    )
    progress = progress_of("cbc", "2024-03-12", found)
    assert status_as_of("2024-03-05", progress) == S.DUE
    assert progress.missing_on(D("2024-03-05")) == ["platelets", "neutrophils", "hemoglobin"]
    assert status_as_of("2024-03-10", progress) == S.DUE
    assert progress.missing_on(D("2024-03-10")) == ["neutrophils"]
    assert status_as_of("2024-03-12", progress) == S.DONE
    assert progress.missing_on(D("2024-03-12")) == []
    assert progress.done_on == D("2024-03-12")


def test_one_late_analyte_makes_the_whole_slot_late() -> None:
    found = results(
        ("platelets", "2024-03-06"), ("hemoglobin", "2024-03-07"), ("neutrophils", "2024-03-25")
    )
    progress = progress_of("cbc", "2024-03-12", found)
    assert progress.done_on is None
    assert progress.completed_on == D("2024-03-25")
    assert status_as_of("2024-03-19", progress) == S.DUE
    assert status_as_of("2024-03-24", progress) == S.OVERDUE
    assert status_as_of("2024-03-25", progress) == S.LATE


def test_a_partly_done_slot_past_its_window_is_overdue_then_missed() -> None:
    found = results(("alt", "2024-03-12"))
    progress = progress_of("lft", "2024-03-12", found)
    assert status_as_of("2024-03-19", progress) == S.DUE
    assert progress.missing_on(D("2024-03-19")) == ["bilirubin"]
    assert status_as_of("2024-03-20", progress) == S.OVERDUE
    assert status_as_of("2024-04-05", progress) == S.MISSED


# --- the last slot has no upper bound for late results --------------------------------------


@pytest.mark.parametrize(
    ("collected", "on", "expected"),
    [
        ((), "2028-01-19", S.DUE),
        ((), "2028-01-20", S.OVERDUE),
        ((), "2035-01-01", S.OVERDUE),  # never missed: there is no next slot
        (("2031-06-01",), "2031-05-31", S.OVERDUE),
        (("2031-06-01",), "2031-06-01", S.LATE),
        (("2028-01-05",), "2028-01-05", S.DONE),
    ],
)
def test_last_slot_counts_late_results_without_upper_bound(
    collected: tuple[str, ...], on: str, expected: S
) -> None:
    progress = progress_of("creatinine", "2028-01-12", creatinine_on(*collected))
    assert progress.next_window_start is None
    assert status_as_of(on, progress) == expected


# --- waived and cancelled are properties of the slot -----------------------------------------


@pytest.mark.parametrize("on", ["2024-01-01", "2024-03-12", "2024-03-25", "2024-05-01"])
def test_a_waived_slot_is_waived_whatever_D_and_the_results(on: str) -> None:
    progress = progress_of("creatinine", "2024-03-12", creatinine_on("2024-03-12"))
    assert status_as_of(on, progress, waived=True) == S.WAIVED
    assert status_as_of(on, progress, waived=True, stopped_on="2024-03-01") == S.WAIVED


@pytest.mark.parametrize("on", ["2024-01-01", "2024-03-12", "2024-03-25", "2024-05-01"])
def test_a_stop_on_or_before_due_on_cancels_even_a_done_slot(on: str) -> None:
    progress = progress_of("creatinine", "2024-03-12", creatinine_on("2024-03-06"))
    assert status_as_of(on, progress, stopped_on="2024-03-12") == S.CANCELLED
    assert status_as_of(on, progress, stopped_on="2024-02-01") == S.CANCELLED


def test_a_stop_after_due_on_does_not_cancel_the_slot() -> None:
    progress = progress_of("creatinine", "2024-03-12", [])
    assert status_as_of("2024-03-20", progress, stopped_on="2024-03-13") == S.OVERDUE


@pytest.mark.parametrize(
    ("due_on", "stopped_on", "cancelled"),
    [
        ("2024-03-12", None, False),
        ("2024-03-12", "2023-01-01", True),
        ("2024-03-12", "2024-03-11", True),
        ("2024-03-12", "2024-03-12", True),
        ("2024-03-12", "2024-03-13", False),
        ("2024-03-12", "2025-01-01", False),
    ],
)
def test_is_cancelled_by_stop_on_or_before_due_on(
    due_on: str, stopped_on: str | None, cancelled: bool
) -> None:
    stop = D(stopped_on) if stopped_on else None
    assert is_cancelled_by_stop(D(due_on), stop) is cancelled


# --- slot_status alone: the order of SPEC §3.2's rules ---------------------------------------

W_START, W_END, NEXT = D("2024-03-05"), D("2024-03-19"), D("2024-04-05")


@pytest.mark.parametrize(
    ("on", "done_on", "completed_on", "waived", "cancelled", "next_start", "expected"),
    [
        ("2024-03-10", "2024-03-06", "2024-03-06", True, True, NEXT, S.WAIVED),
        ("2024-03-10", "2024-03-06", "2024-03-06", False, True, NEXT, S.CANCELLED),
        ("2024-03-10", "2024-03-06", "2024-03-06", False, False, NEXT, S.DONE),
        ("2024-05-10", None, "2024-03-26", False, False, NEXT, S.LATE),
        ("2024-03-25", None, "2024-03-26", False, False, NEXT, S.OVERDUE),
        ("2024-03-04", None, None, False, False, NEXT, S.UPCOMING),
        ("2024-03-05", None, None, False, False, NEXT, S.DUE),
        ("2024-03-19", None, None, False, False, NEXT, S.DUE),
        ("2024-03-20", None, None, False, False, NEXT, S.OVERDUE),
        ("2024-04-05", None, None, False, False, NEXT, S.MISSED),
        ("2024-04-05", None, None, False, False, None, S.OVERDUE),
        ("2024-03-10", "2024-03-11", "2024-03-11", False, False, NEXT, S.DUE),
    ],
)
def test_slot_status_applies_the_first_rule_that_fits(
    on: str,
    done_on: str | None,
    completed_on: str | None,
    waived: bool,
    cancelled: bool,
    next_start: date | None,
    expected: S,
) -> None:
    status = slot_status(
        on=D(on),
        window_start=W_START,
        window_end=W_END,
        next_window_start=next_start,
        done_on=D(done_on) if done_on else None,
        completed_on=D(completed_on) if completed_on else None,
        is_waived=waived,
        is_cancelled=cancelled,
    )
    assert status == expected


def test_status_values_are_the_spec_words() -> None:
    assert [s.value for s in SlotStatus] == [
        "waived",
        "cancelled",
        "done",
        "late",
        "upcoming",
        "due",
        "missed",
        "overdue",
    ]


# --- the switch to a new course ----------------------------------------------------------------


def test_one_pre_course_draw_serves_the_last_monthly_slot_and_the_baseline() -> None:
    found = cbc_on("2025-01-10")
    last_monthly = progress_of("cbc", "2025-01-12", found, TWO_COURSES)
    baseline = progress_of("cbc", "2025-01-13", found, TWO_COURSES)
    assert last_monthly.slot.kind == SlotKind.RECURRING
    assert last_monthly.slot.course == 1
    assert baseline.slot.kind == SlotKind.BASELINE
    assert baseline.slot.course == 2
    assert status_as_of("2025-01-10", last_monthly) == S.DONE
    assert status_as_of("2025-01-10", baseline) == S.DONE
    assert status_as_of("2025-01-09", baseline) == S.DUE


def test_a_draw_at_the_baseline_window_start_also_serves_the_december_slot() -> None:
    found = cbc_on("2024-12-14")
    assert status_as_of("2024-12-14", progress_of("cbc", "2025-01-13", found, TWO_COURSES)) == (
        S.DONE
    )
    assert status_as_of("2024-12-14", progress_of("cbc", "2024-12-12", found, TWO_COURSES)) == (
        S.DONE
    )
    # ...but not the January slot, whose window opens on 2025-01-05.
    january = progress_of("cbc", "2025-01-12", found, TWO_COURSES)
    assert status_as_of("2025-01-12", january) == S.DUE


def test_last_monthly_slot_before_a_new_course_goes_from_due_straight_to_missed() -> None:
    # Its next slot is course 2's baseline, whose window opened on 2024-12-14 (SPEC §9).
    last_monthly = progress_of("cbc", "2025-01-12", [], TWO_COURSES)
    assert last_monthly.next_window_start == D("2024-12-14")
    assert status_as_of("2025-01-04", last_monthly) == S.UPCOMING
    assert status_as_of("2025-01-19", last_monthly) == S.DUE
    assert status_as_of("2025-01-20", last_monthly) == S.MISSED


def test_baseline_after_first_infusion_is_overdue_until_the_first_monthly_window() -> None:
    baseline = progress_of("cbc", "2025-01-13", [], TWO_COURSES)
    assert baseline.next_window_start == D("2025-02-08")
    assert status_as_of("2024-12-13", baseline) == S.UPCOMING
    assert status_as_of("2024-12-14", baseline) == S.DUE
    assert status_as_of("2025-01-13", baseline) == S.DUE
    assert status_as_of("2025-01-14", baseline) == S.OVERDUE
    assert status_as_of("2025-02-07", baseline) == S.OVERDUE
    assert status_as_of("2025-02-08", baseline) == S.MISSED


def test_a_draw_after_the_first_infusion_counts_late_for_the_baseline() -> None:
    baseline = progress_of("cbc", "2025-01-13", cbc_on("2025-01-20"), TWO_COURSES)
    assert status_as_of("2025-01-20", baseline) == S.LATE
    assert status_as_of("2025-01-19", baseline) == S.OVERDUE


def test_only_the_latest_unsatisfied_slot_is_overdue_and_older_ones_are_missed() -> None:
    schedule = build_schedule(ONE_COURSE, DEFAULT_PROTOCOL)
    matched = match_results(schedule, [], catalogue_of(DEFAULT_PROTOCOL))
    on = "2024-06-25"
    creatinine = [p for p in matched if p.slot.panel == "creatinine"]
    statuses = {p.slot.due_on.isoformat(): status_as_of(on, p) for p in creatinine}
    assert [due for due, status in statuses.items() if status == S.OVERDUE] == ["2024-06-12"]
    assert sorted(due for due, status in statuses.items() if status == S.MISSED) == [
        "2024-01-08",
        "2024-02-12",
        "2024-03-12",
        "2024-04-12",
        "2024-05-12",
    ]
    assert statuses["2024-07-12"] == S.UPCOMING


def test_match_results_gives_one_progress_per_slot_with_its_required_analytes() -> None:
    schedule = build_schedule(TWO_COURSES, DEFAULT_PROTOCOL)
    matched = match_results(schedule, [], catalogue_of(DEFAULT_PROTOCOL))
    assert sorted((p.slot.panel, p.slot.due_on) for p in matched) == sorted(
        (s.panel, s.due_on) for s in schedule
    )
    for p in matched:
        assert p.required == DEFAULT_PROTOCOL.panel(p.slot.panel).analytes
