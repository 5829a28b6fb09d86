"""Properties of the schedule and of slot status over random courses and protocols (SPEC §3).

The status checks compare the code with a brute-force reading of SPEC §3.2 written here: for
each slot, look at every result and apply the rules one by one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain.courses import Course, make_course, order_courses
from monitor.domain.protocol import DEFAULT_PROTOCOL, PanelRule, Protocol
from monitor.domain.schedule import PlannedSlot, SlotKind, add_months
from monitor.domain.status import (
    CountedResult,
    SlotStatus,
    is_cancelled_by_stop,
    match_results,
    slot_status,
)
from tests.reference_schedule import build_schedule, catalogue_of, monitoring_end

FIRST_DAY = date(2000, 1, 1)
LAST_START = date(2060, 12, 31)


@st.composite
def courses_strategy(draw: st.DrawFn) -> list[Course]:
    """1-5 valid courses: 1-5 infusion dates within 14 days each, every course starting at
    least a day after the previous one ends, often 3-30 months later."""
    start = draw(st.dates(min_value=FIRST_DAY, max_value=LAST_START))
    courses: list[Course] = []
    for _ in range(draw(st.integers(1, 5))):
        offsets = draw(st.sets(st.integers(1, 14), max_size=4))
        courses.append(make_course([start, *(start + timedelta(days=o) for o in offsets)]))
        last_on = courses[-1].last_on
        if draw(st.booleans()):
            months = draw(st.integers(3, 30))
            start = (
                last_on + relativedelta(months=months) + timedelta(days=draw(st.integers(0, 27)))
            )
        else:
            start = last_on + timedelta(days=draw(st.integers(1, 400)))
    return courses


@st.composite
def protocol_strategy(draw: st.DrawFn) -> Protocol:
    panels = []
    for i in range(draw(st.integers(1, 6))):
        analytes = tuple(f"p{i}_a{j}" for j in range(draw(st.integers(1, 3))))
        panels.append(
            PanelRule(
                name=f"p{i}",
                every_months=draw(st.sampled_from([1, 2, 3, 4, 6, 12]) | st.integers(1, 36)),
                window_before_days=draw(st.integers(0, 60)),
                window_after_days=draw(st.integers(0, 60)),
                analytes=analytes,
                baseline=draw(st.booleans()),
            )
        )
    return Protocol(
        panels=tuple(panels),
        monitoring_months=draw(st.integers(1, 72)),
        baseline_window_days=draw(st.integers(0, 90)),
    )


protocols = st.one_of(st.just(DEFAULT_PROTOCOL), protocol_strategy())


def by_panel(slots: list[PlannedSlot]) -> dict[str, list[PlannedSlot]]:
    grouped: dict[str, list[PlannedSlot]] = defaultdict(list)
    for slot in slots:
        grouped[slot.panel].append(slot)
    return {panel: sorted(group, key=lambda s: s.due_on) for panel, group in grouped.items()}


# --- the schedule --------------------------------------------------------------------------------


@given(courses_strategy(), protocols)
def test_every_window_contains_its_due_date(courses: list[Course], protocol: Protocol) -> None:
    for slot in build_schedule(courses, protocol):
        assert slot.window_start <= slot.due_on <= slot.window_end


@given(courses_strategy(), protocols)
def test_no_recurring_slot_on_or_after_the_next_courses_first_infusion(
    courses: list[Course], protocol: Protocol
) -> None:
    for slot in build_schedule(courses, protocol):
        if slot.kind == SlotKind.RECURRING and slot.course < len(courses):
            assert slot.due_on < courses[slot.course].first_on


@given(courses_strategy(), protocols)
def test_nothing_is_due_after_monitoring_end(courses: list[Course], protocol: Protocol) -> None:
    end = monitoring_end(courses, protocol)
    assert end == courses[-1].last_on + relativedelta(months=protocol.monitoring_months)
    longest_after = max(p.window_after_days for p in protocol.panels)
    for slot in build_schedule(courses, protocol):
        assert slot.due_on <= end
        assert slot.window_end <= end + timedelta(days=longest_after)


@given(courses_strategy(), protocols)
def test_recomputing_gives_the_same_slots(courses: list[Course], protocol: Protocol) -> None:
    again = order_courses([make_course(c.dates) for c in reversed(courses)])
    assert build_schedule(courses, protocol) == build_schedule(again, protocol)


@given(courses_strategy(), protocols)
def test_recurring_slots_count_from_the_anchor_and_stop_where_the_spec_says(
    courses: list[Course], protocol: Protocol
) -> None:
    schedule = build_schedule(courses, protocol)
    for number, course in enumerate(courses, start=1):
        following = courses[number] if number < len(courses) else None
        last_kept = course.last_on + relativedelta(months=protocol.monitoring_months)
        for rule in protocol.panels:
            mine = [s for s in schedule if s.panel == rule.name and s.course == number]
            baselines = [s for s in mine if s.kind == SlotKind.BASELINE]
            recurring = [s for s in mine if s.kind == SlotKind.RECURRING]
            expected_baselines = (
                [(course.first_on, course.first_on - timedelta(days=protocol.baseline_window_days))]
                if rule.baseline
                else []
            )
            assert [(s.due_on, s.window_start) for s in baselines] == expected_baselines
            assert all(s.window_end == s.due_on for s in baselines)
            due = [s.due_on for s in recurring]
            assert due == sorted(set(due))
            for k, slot in enumerate(recurring, start=1):
                assert slot.due_on == course.last_on + relativedelta(months=k * rule.every_months)
                assert slot.window_start == slot.due_on - timedelta(days=rule.window_before_days)
                assert slot.window_end == slot.due_on + timedelta(days=rule.window_after_days)
            # the first candidate not kept breaks one of SPEC §3.1's two limits
            k = len(recurring) + 1
            dropped = course.last_on + relativedelta(months=k * rule.every_months)
            assert dropped > last_kept or (following is not None and dropped >= following.first_on)


@given(courses_strategy(), protocols)
def test_each_panels_due_dates_are_strictly_increasing_across_courses(
    courses: list[Course], protocol: Protocol
) -> None:
    for slots in by_panel(build_schedule(courses, protocol)).values():
        numbers = [s.course for s in slots]
        assert numbers == sorted(numbers)
        due = [s.due_on for s in slots]
        assert due == sorted(set(due))


# --- statuses -------------------------------------------------------------------------------------


def expected_status(
    slot: PlannedSlot,
    following: PlannedSlot | None,
    required: tuple[str, ...],
    results: list[CountedResult],
    on: date,
    stopped_on: date | None,
) -> SlotStatus:
    """SPEC §3.2 read literally, result by result."""
    if stopped_on is not None and stopped_on <= slot.due_on:
        return SlotStatus.CANCELLED
    known = [r for r in results if r.collected_on <= on]

    def on_time(analyte: str) -> bool:
        return any(
            r.analyte == analyte and slot.window_start <= r.collected_on <= slot.window_end
            for r in known
        )

    def late(analyte: str) -> bool:
        return any(
            r.analyte == analyte
            and r.collected_on > slot.window_end
            and (following is None or r.collected_on < following.window_start)
            for r in known
        )

    if all(on_time(a) for a in required):
        return SlotStatus.DONE
    if all(on_time(a) or late(a) for a in required):
        return SlotStatus.LATE
    if on < slot.window_start:
        return SlotStatus.UPCOMING
    if on <= slot.window_end:
        return SlotStatus.DUE
    if following is not None and on >= following.window_start:
        return SlotStatus.MISSED
    return SlotStatus.OVERDUE


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Course], Protocol, list[CountedResult], date]:
    courses = draw(courses_strategy())
    protocol = draw(protocols)
    end = monitoring_end(courses, protocol)
    assert end is not None
    span = st.dates(
        min_value=courses[0].first_on - timedelta(days=120), max_value=end + timedelta(days=120)
    )
    analytes = [a for rule in protocol.panels for a in rule.analytes]
    results = draw(
        st.lists(
            st.builds(
                CountedResult, analyte=st.sampled_from([*analytes, "other"]), collected_on=span
            ),
            max_size=60,
        )
    )
    return courses, protocol, results, draw(span)


def statuses(
    courses: list[Course],
    protocol: Protocol,
    results: list[CountedResult],
    on: date,
    stopped_on: date | None = None,
) -> dict[PlannedSlot, SlotStatus]:
    matched = match_results(build_schedule(courses, protocol), results, catalogue_of(protocol))
    return {
        p.slot: slot_status(
            on=on,
            window_start=p.slot.window_start,
            window_end=p.slot.window_end,
            next_window_start=p.next_window_start,
            done_on=p.done_on,
            completed_on=p.completed_on,
            is_cancelled=is_cancelled_by_stop(p.slot.due_on, stopped_on),
        )
        for p in matched
    }


@settings(max_examples=300, deadline=None)
@given(scenario(), st.none() | st.dates(min_value=FIRST_DAY, max_value=date(2070, 1, 1)))
def test_status_follows_spec_3_2_rule_by_rule(
    case: tuple[list[Course], Protocol, list[CountedResult], date], stopped_on: date | None
) -> None:
    courses, protocol, results, on = case
    found = statuses(courses, protocol, results, on, stopped_on)
    for slots in by_panel(build_schedule(courses, protocol)).values():
        required = protocol.panel(slots[0].panel).analytes
        for index, slot in enumerate(slots):
            following = slots[index + 1] if index + 1 < len(slots) else None
            assert found[slot] == expected_status(
                slot, following, required, results, on, stopped_on
            ), slot


@settings(deadline=None)
@given(scenario())
def test_at_most_one_overdue_slot_per_panel(
    case: tuple[list[Course], Protocol, list[CountedResult], date],
) -> None:
    courses, protocol, results, on = case
    overdue: dict[str, int] = defaultdict(int)
    for slot, status in statuses(courses, protocol, results, on).items():
        if status == SlotStatus.OVERDUE:
            overdue[slot.panel] += 1
    assert all(count <= 1 for count in overdue.values())


@settings(deadline=None)
@given(scenario())
def test_results_collected_after_D_do_not_change_the_status_as_of_D(
    case: tuple[list[Course], Protocol, list[CountedResult], date],
) -> None:
    courses, protocol, results, on = case
    known = [r for r in results if r.collected_on <= on]
    assert statuses(courses, protocol, results, on) == statuses(courses, protocol, known, on)


@settings(deadline=None)
@given(scenario())
def test_no_slot_is_done_or_late_before_the_results_that_complete_it(
    case: tuple[list[Course], Protocol, list[CountedResult], date],
) -> None:
    courses, protocol, results, on = case
    for slot, status in statuses(courses, protocol, results, on).items():
        if status in (SlotStatus.DONE, SlotStatus.LATE):
            for analyte in protocol.panel(slot.panel).analytes:
                assert any(
                    r.analyte == analyte and slot.window_start <= r.collected_on <= on
                    for r in results
                )


# --- the month arithmetic -------------------------------------------------------------------------


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    st.integers(-1200, 1200),
)
def test_add_months_is_dateutils_relativedelta(day: date, months: int) -> None:
    assert add_months(day, months) == day + relativedelta(months=months)
