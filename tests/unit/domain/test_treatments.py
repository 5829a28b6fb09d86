"""Treatments and their series (SPEC §10.2, §10.4): hand-computed tables of due dates for phases,
continuous starts and stops, indefinite and sex panels, restarts and two treatments sharing a
result; then properties over generated treatments."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain.catalogue import Catalogue
from monitor.domain.courses import Course, make_course
from monitor.domain.phases import build_protocol
from monitor.domain.protocol import DEFAULT_PROTOCOL
from monitor.domain.schedule import PlannedSlot, SlotKind
from monitor.domain.status import CountedResult, match_results
from monitor.domain.treatments import (
    Treatment,
    build_slots,
    courses_treatment,
    monitoring_end,
)
from tests.reference_schedule import as_plan, build_schedule
from tests.reference_schedule import monitoring_end as reference_end
from tests.unit.domain.test_schedule_properties import courses_strategy, protocols

D = date.fromisoformat
HORIZON = D("2030-12-31")


def plan(protocol_id: str, kind: str = "continuous", **table: Any) -> Any:
    return build_protocol(protocol_id, {"kind": kind, **table})


def panel(*phases: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"analytes": ["alt"], "phases": list(phases), **keys}


def dues(slots: list[PlannedSlot], name: str = "p", kind: SlotKind = SlotKind.RECURRING) -> list:
    return sorted(s.due_on for s in slots if s.panel == name and s.kind is kind)


def slots_of(
    plans: list[Any],
    treatments: list[Treatment],
    *,
    sex: str | None = None,
    stopped_on: date | None = None,
    horizon_on: date = HORIZON,
) -> list[PlannedSlot]:
    return build_slots(
        treatments, Catalogue.of(plans), sex=sex, stopped_on=stopped_on, horizon_on=horizon_on
    )


# --- phases ----------------------------------------------------------------------------------

TERI = plan(
    "teri",
    monitoring_months=12,
    panels={"p": panel({"every": "2w", "until": "6m"}, {"every": "2m"})},
)


def test_every_two_weeks_for_six_months_then_every_two_months() -> None:
    """Start 10 Jan 2025: 2-weekly to 10 Jul inclusive (12 dates; 11 Jul is past it), then
    2-monthly counted from the anchor (A + 6m + 2k months) to the 12-month cap."""
    found = dues(slots_of([TERI], [Treatment("teri", D("2025-01-10"))]))
    fortnightly = [D("2025-01-10") + timedelta(weeks=2 * k) for k in range(1, 13)]
    assert found == [*fortnightly, D("2025-09-10"), D("2025-11-10"), D("2026-01-10")]
    assert fortnightly[-1] == D("2025-06-27")


def test_at_offsets_clamp_to_the_month_end() -> None:
    cla = plan("cla", "courses", panels={"p": panel({"at": ["2m", "6m", "1m"]})})
    course = make_course([D("2024-01-31")])
    found = dues(slots_of([cla], [courses_treatment("cla", [course])]))
    assert found == [D("2024-02-29"), D("2024-03-31"), D("2024-07-31")]


def test_at_and_every_in_one_panel_give_one_slot_per_date() -> None:
    both = plan(
        "both",
        monitoring_months=12,
        panels={"p": panel({"at": ["1m", "3m"]}, {"every": "3m", "from": "0m"})},
    )
    found = dues(slots_of([both], [Treatment("both", D("2025-05-15"))]))
    assert found == [D(d) for d in ("2025-06-15", "2025-08-15", "2025-11-15", "2026-02-15",
                                    "2026-05-15")]  # fmt: skip


def test_months_from_the_anchor_never_drift_at_a_month_end() -> None:
    """SPEC §10.4's example: 31 Jan 2024, from 1m every 1m: 31 Mar, 30 Apr, 31 May."""
    drift = plan("drift", monitoring_months=4, panels={"p": panel({"every": "1m", "from": "1m"})})
    found = dues(slots_of([drift], [Treatment("drift", D("2024-01-31"))]))
    assert found == [D("2024-03-31"), D("2024-04-30"), D("2024-05-31")]


def test_weeks_and_days_step_exactly() -> None:
    weeks = plan(
        "weeks",
        monitoring_months=1,
        panels={"p": panel({"every": "10d", "until": "20d"}, {"every": "1w", "from": "3w"})},
    )
    found = dues(slots_of([weeks], [Treatment("weeks", D("2025-02-01"))]))
    # 10d, 20d; then 3w + 1w, 3w + 2w (1 Mar = start + 1 month is the cap, inclusive)
    assert found == [D("2025-02-11"), D("2025-02-21"), D("2025-03-01")]


# --- continuous bounds -------------------------------------------------------------------------

NAT = plan(
    "nat",
    after_stop_months=6,
    baseline_window_days=60,
    panels={"p": panel({"every": "3m"}, baseline=True)},
)


def test_an_open_uncapped_treatment_runs_to_the_horizon_with_a_baseline_on_its_start() -> None:
    slots = slots_of([NAT], [Treatment("nat", D("2025-01-15"))], horizon_on=D("2026-01-20"))
    [baseline] = [s for s in slots if s.kind is SlotKind.BASELINE]
    assert (baseline.due_on, baseline.window_start, baseline.window_end) == (
        D("2025-01-15"), D("2024-11-16"), D("2025-01-15"),
    )  # fmt: skip
    assert baseline.course is None and baseline.treatment == 1
    assert dues(slots) == [D(d) for d in ("2025-04-15", "2025-07-15", "2025-10-15", "2026-01-15")]


def test_a_stop_bounds_the_series_after_stop_months_later_whatever_the_horizon() -> None:
    treatment = Treatment("nat", D("2025-01-15"), stopped_on=D("2025-05-01"))
    found = dues(slots_of([NAT], [treatment]))
    # stop + 6 months = 1 Nov 2025, inclusive
    assert found == [D("2025-04-15"), D("2025-07-15"), D("2025-10-15")]
    assert monitoring_end([treatment], Catalogue.of([NAT])) == D("2025-11-01")


def test_stopped_on_the_start_day_keeps_the_baseline_only() -> None:
    no_tail = plan("once", panels={"p": panel({"every": "1m"}, baseline=True)})
    slots = slots_of([no_tail], [Treatment("once", D("2025-03-03"), D("2025-03-03"))])
    assert [(s.kind, s.due_on) for s in slots] == [(SlotKind.BASELINE, D("2025-03-03"))]


def test_stopped_and_capped_ends_at_the_earlier() -> None:
    capped = plan(
        "cap", monitoring_months=4, after_stop_months=3, panels={"p": panel({"every": "1m"})}
    )
    early_stop = Treatment("cap", D("2025-01-10"), D("2025-01-20"))  # stop + 3m = 20 Apr
    late_stop = Treatment("cap", D("2025-01-10"), D("2025-04-01"))  # cap: 10 May
    catalogue = Catalogue.of([capped])
    assert dues(slots_of([capped], [early_stop]))[-1] == D("2025-04-10")
    assert monitoring_end([early_stop], catalogue) == D("2025-04-20")
    assert dues(slots_of([capped], [late_stop]))[-1] == D("2025-05-10")
    assert monitoring_end([late_stop], catalogue) == D("2025-05-10")


def test_a_restart_ends_the_old_tail_the_day_before_and_numbers_the_treatments() -> None:
    first = Treatment("nat", D("2025-01-15"), stopped_on=D("2025-03-01"))
    again = Treatment("nat", D("2025-08-15"), stopped_on=D("2025-08-20"))
    slots = slots_of([NAT], [again, first])
    old = [s.due_on for s in slots if s.treatment == 1 and s.kind is SlotKind.RECURRING]
    new = [s for s in slots if s.treatment == 2]
    assert old == [D("2025-04-15"), D("2025-07-15")]  # 15 Aug would be on the restart day
    assert [(s.kind, s.due_on) for s in new][:2] == [
        (SlotKind.BASELINE, D("2025-08-15")),
        (SlotKind.RECURRING, D("2025-11-15")),
    ]


def test_the_monitoring_end_is_the_latest_and_unknown_while_one_is_open() -> None:
    alem = as_plan(DEFAULT_PROTOCOL)
    catalogue = Catalogue.of([alem, NAT])
    courses = courses_treatment("alemtuzumab", [make_course([D("2024-01-08"), D("2024-01-12")])])
    stopped = Treatment("nat", D("2025-01-15"), stopped_on=D("2030-01-01"))
    assert monitoring_end([courses], catalogue) == D("2028-01-12")
    assert monitoring_end([courses, stopped], catalogue) == D("2030-07-01")
    assert monitoring_end([courses, Treatment("nat", D("2025-01-15"))], catalogue) is None
    assert monitoring_end([], catalogue) is None


# --- indefinite and sex panels -----------------------------------------------------------------

SKIN = {"analytes": ["skin_exam"], "every_months": 12, "indefinite": True}
CERVIX = {"analytes": ["tsh"], "every_months": 12, "sex": "F"}
ALEM_PLUS = plan("alem", "courses", monitoring_months=24, panels={"skin": SKIN, "cervix": CERVIX})
ONE_COURSE = [make_course([D("2024-03-04") + timedelta(days=d) for d in range(5)])]


def test_an_indefinite_panel_goes_on_after_the_monitoring_end_up_to_the_horizon() -> None:
    slots = slots_of(
        [ALEM_PLUS], [courses_treatment("alem", ONE_COURSE)], horizon_on=D("2029-03-08")
    )
    assert dues(slots, "skin") == [D(f"{y}-03-08") for y in range(2025, 2030)]
    assert monitoring_end([courses_treatment("alem", ONE_COURSE)], Catalogue.of([ALEM_PLUS])) == (
        D("2026-03-08")
    )  # indefinite panels do not move it


def test_a_patient_stop_ends_an_indefinite_panel_before_the_stop_day() -> None:
    slots = slots_of(
        [ALEM_PLUS], [courses_treatment("alem", ONE_COURSE)], stopped_on=D("2027-03-08")
    )
    assert dues(slots, "skin") == [D("2025-03-08"), D("2026-03-08")]


def test_a_sex_panel_applies_only_to_that_recorded_sex() -> None:
    treatment = [courses_treatment("alem", ONE_COURSE)]
    assert dues(slots_of([ALEM_PLUS], treatment, sex="F"), "cervix") == [
        D("2025-03-08"), D("2026-03-08"),
    ]  # fmt: skip
    for other in ("M", "X", None):
        assert dues(slots_of([ALEM_PLUS], treatment, sex=other), "cervix") == []


# --- two treatments ----------------------------------------------------------------------------


def test_two_concurrent_treatments_share_one_result() -> None:
    """Alemtuzumab's monthly liver tests and teriflunomide's fortnightly ones: one ALT and one
    bilirubin on 8 Apr 2024 complete a slot of each series."""
    alem = as_plan(DEFAULT_PROTOCOL)
    teri = plan("teri", monitoring_months=6, panels={"lft": panel({"every": "2w"})})
    catalogue = Catalogue.of([alem, teri])
    treatments = [courses_treatment("alemtuzumab", ONE_COURSE), Treatment("teri", D("2024-03-25"))]
    slots = build_slots(treatments, catalogue, sex=None, stopped_on=None, horizon_on=HORIZON)
    results = [CountedResult("alt", D("2024-04-08")), CountedResult("bilirubin", D("2024-04-08"))]
    done = [p.slot for p in match_results(slots, results, catalogue) if p.done_on is not None]
    assert {(s.protocol, s.treatment, s.panel, s.due_on) for s in done} == {
        ("alemtuzumab", 1, "lft", D("2024-04-08")),
        ("teri", 2, "lft", D("2024-04-08")),
    }


# --- properties --------------------------------------------------------------------------------


def series_key(slot: PlannedSlot) -> tuple[str, int, str]:
    return (slot.protocol, slot.treatment, slot.panel)


@settings(max_examples=200, deadline=None)
@given(courses=courses_strategy(), protocol=protocols)
def test_alemtuzumab_only_slots_are_the_old_engines(courses: list[Course], protocol: Any) -> None:
    """The regression property: every field of every slot, and the monitoring end."""
    catalogue = Catalogue.of([as_plan(protocol)])
    treatment = courses_treatment("alemtuzumab", courses)
    new = build_slots([treatment], catalogue, sex="F", stopped_on=None, horizon_on=FAR)
    old = build_schedule(courses, protocol)
    assert sorted(new, key=order) == sorted(old, key=order)
    assert monitoring_end([treatment], catalogue) == reference_end(courses, protocol)


FAR = D("2099-12-31")


def order(slot: PlannedSlot) -> tuple[Any, ...]:
    return (slot.panel, slot.due_on, slot.kind.value)


LENGTHS = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 8), st.sampled_from("dwm"))


@st.composite
def continuous_plans(draw: st.DrawFn) -> Any:
    panels = {}
    for i in range(draw(st.integers(1, 3))):
        phases: list[dict[str, Any]] = []
        if draw(st.booleans()):
            phases.append({"at": draw(st.lists(LENGTHS, min_size=1, max_size=4, unique=True))})
            phases.append({"every": draw(LENGTHS), "from": "0m"})
        else:
            phases.append({"every": draw(LENGTHS)})
        panels[f"p{i}"] = {
            "analytes": ["alt"],
            "phases": phases,
            "baseline": draw(st.booleans()),
            "indefinite": draw(st.booleans()),
        }
    table: dict[str, Any] = {"kind": "continuous", "panels": panels}
    table["after_stop_months"] = draw(st.integers(0, 12))
    if draw(st.booleans()):
        table["monitoring_months"] = draw(st.integers(1, 60))
    return build_protocol("cont", table)


@st.composite
def treatment_lists(draw: st.DrawFn) -> list[Treatment]:
    start = draw(st.dates(min_value=D("2010-01-01"), max_value=D("2030-01-01")))
    treatments = []
    for _ in range(draw(st.integers(1, 3))):
        stop = start + timedelta(days=draw(st.integers(0, 900)))
        is_open = draw(st.booleans())
        treatments.append(Treatment("cont", start, None if is_open else stop))
        if is_open:
            break
        start = stop + timedelta(days=draw(st.integers(1, 400)))
    return treatments


@settings(max_examples=300, deadline=None)
@given(plan_=continuous_plans(), treatments=treatment_lists(), stop_days=st.integers(0, 4000))
def test_every_slot_lies_inside_its_treatments_bounds_once_per_series(
    plan_: Any, treatments: list[Treatment], stop_days: int
) -> None:
    patient_stop = treatments[0].started_on + timedelta(days=stop_days)
    horizon = D("2034-01-01")
    slots = build_slots(
        treatments, Catalogue.of([plan_]), sex=None, stopped_on=patient_stop, horizon_on=horizon
    )
    keys = [(series_key(s), s.due_on) for s in slots]
    assert len(keys) == len(set(keys)), "no two slots of one series share a due date"
    for slot in slots:
        treatment = treatments[slot.treatment - 1]
        following = treatments[slot.treatment] if slot.treatment < len(treatments) else None
        assert treatment.started_on <= slot.due_on
        if following is not None:
            assert slot.due_on < following.started_on
        panel_plan = next(p for p in plan_.panels if p.name == slot.panel)
        if slot.kind is SlotKind.BASELINE:
            assert slot.due_on == treatment.started_on  # due on the start, whatever the horizon
            continue
        if panel_plan.indefinite:
            assert slot.due_on <= horizon
            assert slot.due_on < patient_stop
            continue
        end = monitoring_end([treatment], Catalogue.of([plan_]))
        assert slot.due_on <= (horizon if end is None else end)
