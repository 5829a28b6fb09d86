"""The schedule engine as it was before protocols became data (SPEC §3.1, issue 13), kept as the
reference the alemtuzumab-only schedule must keep giving (`domain.treatments.build_slots`), and
converters from its `Protocol` value to the product's `Catalogue`, for tests written against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue, plan_fingerprint
from monitor.domain.courses import Course
from monitor.domain.lengths import Length, Unit
from monitor.domain.phases import Kind, PanelPlan, Phase, ProtocolPlan
from monitor.domain.protocol import PanelRule, Protocol
from monitor.domain.schedule import PlannedSlot, SlotKind, add_months
from monitor.domain.status import CountedResult, SlotProgress
from monitor.domain.treatments import courses_treatment
from monitor.services.schedule.slots import plan_slots


def monitoring_end(courses: Sequence[Course], protocol: Protocol) -> date | None:
    """48 months (by default) after the last infusion of the last course; None with no course."""
    if not courses:
        return None
    last = max(course.last_on for course in courses)
    return add_months(last, protocol.monitoring_months)


def build_schedule(courses: Sequence[Course], protocol: Protocol) -> list[PlannedSlot]:
    """Every slot of every panel, ordered by panel (protocol order) then due date.

    `courses` must already be valid and in date order (see `courses.order_courses`).
    """
    slots: list[PlannedSlot] = []
    for rule in protocol.panels:
        for index, course in enumerate(courses):
            following = courses[index + 1] if index + 1 < len(courses) else None
            if rule.baseline:
                slots.append(_baseline_slot(rule, course, index + 1, protocol))
            slots.extend(_recurring_slots(rule, course, index + 1, following, protocol))
    return slots


def _baseline_slot(rule: PanelRule, course: Course, number: int, protocol: Protocol) -> PlannedSlot:
    start = course.first_on - timedelta(days=protocol.baseline_window_days)
    return PlannedSlot(
        rule.name, course.first_on, start, course.first_on, number, SlotKind.BASELINE
    )


def _recurring_slots(
    rule: PanelRule,
    course: Course,
    number: int,
    following: Course | None,
    protocol: Protocol,
) -> list[PlannedSlot]:
    anchor = course.last_on
    last_due = add_months(anchor, protocol.monitoring_months)
    if following is not None:
        last_due = min(last_due, following.first_on - timedelta(days=1))  # due_on < F_(c+1)
    before = timedelta(days=rule.window_before_days)
    after = timedelta(days=rule.window_after_days)
    name, step = rule.name, rule.every_months
    slots = []
    months = step
    due_on = add_months(anchor, months)
    while due_on <= last_due:
        slots.append(
            PlannedSlot(name, due_on, due_on - before, due_on + after, number, SlotKind.RECURRING)
        )
        months += step
        due_on = add_months(anchor, months)
    return slots


MONTH_ZERO = Length(0, Unit.MONTHS)


def as_plan(protocol: Protocol, protocol_id: str = DEFAULT_PROTOCOL_ID) -> ProtocolPlan:
    """The old `Protocol` as a plan: each panel one `every_months` phase."""
    panels = tuple(
        PanelPlan(
            name=rule.name,
            analytes=rule.analytes,
            phases=(
                Phase(every=Length(rule.every_months, Unit.MONTHS), from_=Length(0, Unit.MONTHS)),
            ),
            baseline=rule.baseline,
            window_before_days=rule.window_before_days,
            window_after_days=rule.window_after_days,
        )
        for rule in protocol.panels
    )
    return ProtocolPlan(
        id=protocol_id,
        name=protocol_id,
        kind=Kind.COURSES,
        panels=panels,
        monitoring_months=protocol.monitoring_months,
        baseline_window_days=protocol.baseline_window_days,
    )


def catalogue_of(protocol: Protocol) -> Catalogue:
    """A catalogue holding only this protocol, as alemtuzumab."""
    return Catalogue.of([as_plan(protocol)])


def protocol_fingerprint(protocol: Protocol) -> str:
    """The fingerprint the product stores for slots computed from this protocol."""
    return plan_fingerprint(as_plan(protocol))


def as_protocol(plan: ProtocolPlan) -> Protocol | None:
    """The plan as today's `Protocol`, or None when it says something `Protocol` cannot (phases
    other than one `every_months`, a sex, an indefinite panel, rule overrides, no end)."""
    if plan.kind is not Kind.COURSES or plan.rules or plan.monitoring_months is None:
        return None
    panels = []
    for panel in plan.panels:
        phase = panel.phases[0]
        simple = (
            len(panel.phases) == 1
            and phase.every is not None
            and phase.every.unit is Unit.MONTHS
            and phase.from_ == Length(0, Unit.MONTHS)
            and phase.until is None
        )
        if not simple or panel.sex is not None or panel.indefinite or phase.every is None:
            return None
        panels.append(
            PanelRule(
                panel.name,
                phase.every.count,
                panel.window_before_days,
                panel.window_after_days,
                panel.analytes,
                panel.baseline,
            )
        )
    return Protocol(tuple(panels), plan.monitoring_months, plan.baseline_window_days)


def plan_course_slots(
    courses: Sequence[Course], results: Iterable[CountedResult], catalogue: Catalogue
) -> list[SlotProgress]:
    """`services.schedule.slots.plan_slots` for one alemtuzumab treatment of these courses."""
    treatments = [courses_treatment(DEFAULT_PROTOCOL_ID, courses)] if courses else []
    return plan_slots(treatments, results, catalogue, horizon_on=date(2100, 1, 1))
