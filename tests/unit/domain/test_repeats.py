"""Repeat slots planned from flags' requests (`domain.repeats`): hand-computed cases."""

from __future__ import annotations

from datetime import date
from typing import Any

from monitor.domain.catalogue import Catalogue
from monitor.domain.phases import build_protocol
from monitor.domain.repeats import RepeatRequest, repeat_slots
from monitor.domain.schedule import PlannedSlot, SlotKind
from monitor.domain.status import CountedResult, match_results
from monitor.domain.treatments import Treatment, build_slots

D = date.fromisoformat
HORIZON = D("2030-12-31")


def plan(protocol_id: str, **table: Any) -> Any:
    panels = {
        "blood": {"analytes": ["platelets", "hemoglobin"], "phases": [{"every": "1m"}]},
        "women": {"analytes": ["tsh"], "phases": [{"every": "3m"}], "sex": "F"},
    }
    return build_protocol(protocol_id, {"kind": "continuous", "panels": panels, **table})


ONE = Catalogue.of([plan("a", monitoring_months=12), plan("b")])
A = Treatment("a", D("2025-01-01"))  # monthly on the 1st; monitored to 2026-01-01
B = Treatment("b", D("2026-06-01"))  # open; its baseline window opens 30 days before


def plan_for(
    requests: list[RepeatRequest], treatments: list[Treatment] | None = None, sex: str = "M"
) -> tuple[list[PlannedSlot], list[PlannedSlot]]:
    treatments = treatments if treatments is not None else [A]
    regular = build_slots(treatments, ONE, sex=sex, stopped_on=None, horizon_on=HORIZON)
    return regular, repeat_slots(requests, treatments, ONE, sex=sex, planned=regular)


def shown(slots: list[PlannedSlot]) -> list[tuple[str, int, str, date, date, date]]:
    return [(s.protocol, s.treatment, s.panel, s.window_start, s.window_end, s.due_on)
            for s in slots]  # fmt: skip


def test_a_repeat_is_a_slot_of_the_analytes_panel_from_the_day_after_the_sample() -> None:
    _, found = plan_for([RepeatRequest("platelets", D("2025-01-10"), D("2025-01-17"))])
    assert shown(found) == [("a", 1, "blood", D("2025-01-11"), D("2025-01-17"), D("2025-01-17"))]
    assert found[0].kind is SlotKind.REPEAT and found[0].course is None


def test_a_day_taken_by_a_regular_slot_moves_the_repeat_a_day_earlier() -> None:
    _, found = plan_for([RepeatRequest("platelets", D("2025-01-25"), D("2025-02-01"))])
    assert shown(found) == [("a", 1, "blood", D("2025-01-26"), D("2025-01-31"), D("2025-01-31"))]


def test_a_one_day_repeat_against_a_regular_slot_is_dropped() -> None:
    _, found = plan_for([RepeatRequest("platelets", D("2025-01-31"), D("2025-02-01"))])
    assert found == []


def test_two_asks_for_one_day_are_one_slot_opening_after_the_later_sample() -> None:
    _, found = plan_for(
        [
            RepeatRequest("platelets", D("2025-01-20"), D("2025-01-27")),
            RepeatRequest("hemoglobin", D("2025-01-22"), D("2025-01-27")),
            RepeatRequest("platelets", D("2025-01-20"), D("2025-01-27")),
        ]
    )
    assert shown(found) == [("a", 1, "blood", D("2025-01-23"), D("2025-01-27"), D("2025-01-27"))]


def test_two_repeats_that_would_share_a_day_take_two_days() -> None:
    """One due on 31 January; the other, asked for 1 February (a regular slot's day), moves
    past the first repeat's day to 30 January."""
    _, found = plan_for(
        [
            RepeatRequest("platelets", D("2025-01-21"), D("2025-01-31")),
            RepeatRequest("platelets", D("2025-01-25"), D("2025-02-01")),
        ]
    )
    assert [s.due_on for s in found] == [D("2025-01-31"), D("2025-01-30")]


def test_no_panel_no_slot_and_a_panel_of_the_other_sex_is_never_chosen() -> None:
    _, none = plan_for([RepeatRequest("creatinine", D("2025-01-10"), D("2025-01-17"))])
    assert none == []
    _, men = plan_for([RepeatRequest("tsh", D("2025-01-10"), D("2025-01-17"))], sex="M")
    assert men == []
    _, women = plan_for([RepeatRequest("tsh", D("2025-01-10"), D("2025-01-17"))], sex="F")
    assert [s.panel for s in women] == ["women"]


def test_a_request_due_on_its_own_sample_day_asks_for_nothing() -> None:
    _, found = plan_for([RepeatRequest("platelets", D("2025-01-10"), D("2025-01-10"))])
    assert found == []


def test_the_treatment_monitored_on_the_sample_day_gets_it_else_the_latest() -> None:
    both = [A, B]
    for asked, expected in (
        ("2025-06-10", ("a", 1)),  # only A is monitored
        ("2026-07-10", ("b", 2)),  # only B is
        ("2026-03-10", ("b", 2)),  # neither (A ended, B's baseline window not open): the latest
    ):
        day = D(asked)
        _, found = plan_for([RepeatRequest("platelets", day, day.replace(day=17))], both)
        assert [(s.protocol, s.treatment) for s in found] == [expected], asked


def test_a_repeat_is_its_own_series_and_moves_no_regular_slot() -> None:
    """A regular slot's next window (and so missed vs overdue) is what it was without the
    repeat; a result after the repeat's window completes it late."""
    regular, repeats = plan_for([RepeatRequest("platelets", D("2025-01-10"), D("2025-01-17"))])
    results = [CountedResult(a, D("2025-01-20")) for a in ("platelets", "hemoglobin")]
    alone = {(p.slot.panel, p.slot.due_on): p for p in match_results(regular, results, ONE)}
    mixed = {
        (p.slot.panel, p.slot.due_on): p for p in match_results(regular + repeats, results, ONE)
    }
    for key, progress in alone.items():
        assert mixed[key].next_window_start == progress.next_window_start
        assert mixed[key].completed_on == progress.completed_on
    repeat = mixed["blood", D("2025-01-17")]
    assert repeat.next_window_start is None
    assert (repeat.done_on, repeat.completed_on) == (None, D("2025-01-20"))
