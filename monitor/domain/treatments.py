"""A patient's treatments and the slots of each series (SPEC §10.2, §10.4).

A treatment is one protocol for one patient: a `courses` protocol holds all the patient's
courses of that drug (one treatment per patient), a `continuous` one runs from a start date to
an optional stop. A *series* is one (treatment, panel); windows, statuses and the overdue list
work per series, and one result can complete slots of several series.

Policy, stated once:

* **Anchors.** A course's last dose, or a continuous treatment's start (`phases.due_dates`).
* **Ends** (inclusive). Courses: `L_c + monitoring_months`, and before the next course's first
  dose (§3.1). Continuous: the earlier of `stop + after_stop_months` and `start +
  monitoring_months` (when capped); the day before the same protocol's next start (a restart's
  old tail). An `indefinite` panel ignores every end of its treatment; only a patient stop ends
  it: it lists no slot due on or after the stop. An open-ended series (open and uncapped, or
  indefinite) is planned up to `horizon_on`, which the caller sets (the store keeps a year or
  more ahead and extends it; `services.schedule.slots`).
* **Baselines.** Courses: one per baseline panel and course, due on its first dose, window
  `baseline_window_days` before it. Continuous: one per baseline panel, due on the start.
* **Sex.** A panel with `sex` applies only to patients whose recorded sex is exactly that.
* **Numbering.** Treatments by first date, then protocol id (1, 2, ...); courses within their
  treatment by date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.domain.catalogue import Catalogue
from monitor.domain.courses import Course
from monitor.domain.phases import Kind, PanelPlan, ProtocolPlan, due_dates
from monitor.domain.schedule import PlannedSlot, SlotKind, add_months

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Treatment:
    """One protocol for one patient; `courses` (date order) for a `courses` protocol, `started_on`
    and `stopped_on` for a continuous one (a courses treatment starts on its first dose)."""

    protocol: str
    started_on: date
    stopped_on: date | None = None
    courses: tuple[Course, ...] = ()


def courses_treatment(protocol: str, courses: Sequence[Course]) -> Treatment:
    """The treatment holding these courses (date order); it starts on the first dose."""
    ordered = tuple(sorted(courses, key=lambda course: course.first_on))
    return Treatment(protocol, ordered[0].first_on, None, ordered)


def order_treatments(treatments: Sequence[Treatment]) -> list[Treatment]:
    """By first date, then protocol id: index + 1 is the treatment's number."""
    return sorted(treatments, key=lambda t: (t.started_on, t.protocol))


def build_slots(
    treatments: Sequence[Treatment],
    catalogue: Catalogue,
    *,
    sex: str | None,
    stopped_on: date | None,
    horizon_on: date,
) -> list[PlannedSlot]:
    """Every slot of every series of the patient's treatments (any order within the list)."""
    ordered = order_treatments(treatments)
    slots: list[PlannedSlot] = []
    for number, treatment in enumerate(ordered, start=1):
        plan = catalogue.plan(treatment.protocol)
        if plan.kind is Kind.COURSES and not treatment.courses:
            continue  # its last course was deleted: nothing to plan
        next_start = _next_start(ordered, treatment)
        for panel in plan.panels:
            if panel.sex is not None and panel.sex != sex:
                continue
            series = _Series(plan, panel, number, stopped_on, horizon_on, next_start)
            if plan.kind is Kind.COURSES:
                slots.extend(series.of_courses(treatment.courses))
            else:
                slots.extend(series.of_continuous(treatment))
    return slots


def _next_start(ordered: Sequence[Treatment], treatment: Treatment) -> date | None:
    later = [
        t.started_on
        for t in ordered
        if t.protocol == treatment.protocol and t.started_on > treatment.started_on
    ]
    return min(later, default=None)


@dataclass(frozen=True)
class _Series:
    plan: ProtocolPlan
    panel: PanelPlan
    number: int
    stopped_on: date | None  # the patient's stop (SPEC §9)
    horizon_on: date
    next_start_on: date | None  # the same protocol's next treatment

    def of_courses(self, courses: Sequence[Course]) -> list[PlannedSlot]:
        slots = []
        months = self.plan.monitoring_months or 0
        for index, course in enumerate(courses):
            following = courses[index + 1].first_on if index + 1 < len(courses) else None
            if self.panel.baseline:
                slots.append(self._baseline(course.first_on, index + 1))
            ends = [add_months(course.last_on, months)]
            slots.extend(self._recurring(course.last_on, ends, following, index + 1))
        return slots

    def of_continuous(self, treatment: Treatment) -> list[PlannedSlot]:
        start = treatment.started_on
        slots = [self._baseline(start, None)] if self.panel.baseline else []
        ends = []
        if treatment.stopped_on is not None:
            ends.append(add_months(treatment.stopped_on, self.plan.after_stop_months))
        if self.plan.monitoring_months is not None:
            ends.append(add_months(start, self.plan.monitoring_months))
        slots.extend(self._recurring(start, ends, self.next_start_on, None))
        return slots

    def _baseline(self, due_on: date, course: int | None) -> PlannedSlot:
        opens = due_on - timedelta(days=self.plan.baseline_window_days)
        return self._slot(due_on, opens, due_on, course, SlotKind.BASELINE)

    def _recurring(
        self, anchor: date, own_ends: list[date], next_on: date | None, course: int | None
    ) -> list[PlannedSlot]:
        """Due dates after `anchor` up to the earliest end: the treatment's `own_ends` (none for
        an indefinite panel; the horizon when there are none), before `next_on` (the next course
        or the same protocol's restart), and for an indefinite panel before the patient's stop."""
        ends = [] if self.panel.indefinite else list(own_ends)
        if not ends:
            ends.append(self.horizon_on)
        if next_on is not None:
            ends.append(next_on - ONE_DAY)
        if self.panel.indefinite and self.stopped_on is not None:
            ends.append(self.stopped_on - ONE_DAY)
        before = timedelta(days=self.panel.window_before_days)
        after = timedelta(days=self.panel.window_after_days)
        return [
            self._slot(due_on, due_on - before, due_on + after, course, SlotKind.RECURRING)
            for due_on in due_dates(self.panel, anchor, min(ends))
        ]

    def _slot(
        self, due_on: date, opens: date, closes: date, course: int | None, kind: SlotKind
    ) -> PlannedSlot:
        return PlannedSlot(
            self.panel.name, due_on, opens, closes, course, kind, self.plan.id, self.number
        )


def treatment_end(treatment: Treatment, plan: ProtocolPlan) -> date | None:
    """When this treatment's monitoring ends (indefinite panels aside); None while an uncapped
    continuous treatment is open."""
    if plan.kind is Kind.COURSES:
        last = max(course.last_on for course in treatment.courses)
        return add_months(last, plan.monitoring_months or 0)  # a courses plan always has one
    ends = []
    if treatment.stopped_on is not None:
        ends.append(add_months(treatment.stopped_on, plan.after_stop_months))
    if plan.monitoring_months is not None:
        ends.append(add_months(treatment.started_on, plan.monitoring_months))
    return min(ends, default=None)


def monitoring_end(treatments: Sequence[Treatment], catalogue: Catalogue) -> date | None:
    """The latest end of the patient's treatments; None with no treatment, or while one is open
    and uncapped (SPEC §10.4)."""
    ends = [
        treatment_end(t, plan)
        for t in treatments
        if (plan := catalogue.plan(t.protocol)).kind is Kind.CONTINUOUS or t.courses
    ]
    if not ends or None in ends:
        return None
    return max(end for end in ends if end is not None)


def has_open_series(treatment: Treatment, plan: ProtocolPlan, sex: str | None) -> bool:
    """Whether some series of this treatment is planned only up to a horizon: an open, uncapped
    continuous treatment, or an indefinite panel that applies to the patient."""
    if is_open_ended(treatment, plan):
        return True
    return any(panel.indefinite and panel.sex in (None, sex) for panel in plan.panels)


def is_open_ended(treatment: Treatment, plan: ProtocolPlan) -> bool:
    """An open continuous treatment with no cap: its monitoring end is not known yet."""
    return (
        plan.kind is Kind.CONTINUOUS
        and treatment.stopped_on is None
        and plan.monitoring_months is None
    )


def active_plans_on(
    treatments: Sequence[Treatment], catalogue: Catalogue, on: date
) -> list[ProtocolPlan]:
    """The protocols whose treatment is being monitored on `on` (the flag rules use their
    overrides, SPEC §10.1): from its baseline window before the start to its monitoring end
    (open: no end), each protocol once, in treatment order."""
    found: dict[str, ProtocolPlan] = {}
    for treatment in order_treatments(treatments):
        plan = catalogue.plan(treatment.protocol)
        if plan.kind is Kind.COURSES and not treatment.courses:
            continue
        if is_monitored_on(treatment, plan, on):
            found.setdefault(plan.id, plan)
    return list(found.values())


def is_monitored_on(treatment: Treatment, plan: ProtocolPlan, on: date) -> bool:
    """From the baseline window before the start to the monitoring end (open: no end)."""
    opens = treatment.started_on - timedelta(days=plan.baseline_window_days)
    end = treatment_end(treatment, plan)
    return opens <= on and (end is None or on <= end)
