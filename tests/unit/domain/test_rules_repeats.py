"""Which findings ask for a repeat, and within how many days (`repeat_within_days`), worked
out by hand from SPEC §4's thresholds and issue 14's defaults (7 days)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from monitor.domain.courses import make_course
from monitor.domain.phases import ProtocolPlan, build_protocol
from monitor.domain.rules import (
    DEFAULT_SETTINGS,
    PatientContext,
    ResultFact,
    evaluate,
    evaluate_for_protocols,
    rule_settings_from_mapping,
)

ON = date(2025, 3, 3)
PATIENT = PatientContext(sex="F", courses=())


def fact(analyte: str, value: float, on: date = ON, key: int = 1) -> ResultFact:
    return ResultFact(key, analyte, on, value, None)


def asked(new: ResultFact, *history: ResultFact, **kwargs: Any) -> dict[str, int | None]:
    return {f.rule: f.repeat_within_days for f in evaluate(new, history, PATIENT, **kwargs)}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (149, {"platelets.low": None}),  # review: no repeat
        (100, {"platelets.low": None}),  # not below 100
        (99, {"platelets.low": 7}),  # urgent
        (40, {"platelets.low": 7}),  # emergency
    ],
)
def test_a_count_below_100_asks_for_a_repeat_within_7_days(value, expected) -> None:
    assert asked(fact("platelets", value)) == expected


def test_a_fall_of_half_asks_even_above_the_range() -> None:
    before = fact("platelets", 400, date(2025, 2, 3), key=0)
    assert asked(fact("platelets", 200), before) == {"platelets.fall": 7}
    assert asked(fact("platelets", 201), before) == {}  # 49.75 %


def test_a_capped_count_in_the_post_infusion_dip_still_asks() -> None:
    course = make_course([date(2025, 3, 1)])
    found = evaluate(fact("platelets", 80), (), PatientContext("F", (course,)))
    ((rule, severity, days),) = [(f.rule, f.severity.value, f.repeat_within_days) for f in found]
    assert (rule, severity, days) == ("platelets.low", "review", 7)


def test_an_urgent_creatinine_rise_asks_and_a_value_above_range_does_not() -> None:
    before = fact("creatinine", 70, date(2025, 2, 3), key=0)
    assert asked(fact("creatinine", 100), before) == {
        "creatinine.above_range": None,  # 100 > 90 (F)
        "creatinine.rise": 7,  # 30 >= 26.5 above the previous
    }
    assert asked(fact("creatinine", 95), before) == {"creatinine.above_range": None}


def test_0_asks_for_nothing_and_the_days_follow_the_setting() -> None:
    off = rule_settings_from_mapping({"platelets": {"repeat_within_days": 0}})
    assert asked(fact("platelets", 40), settings=off) == {"platelets.low": None}
    two = rule_settings_from_mapping({"creatinine": {"repeat_within_days": 2}})
    before = fact("creatinine", 70, date(2025, 2, 3), key=0)
    assert asked(fact("creatinine", 100), before, settings=two)["creatinine.rise"] == 2


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"repeat_within_days": -1}, "repeat_within_days must be a finite number >= 0"),
        ({"repeat_within_days": 93}, "repeat_within_days must be at most 92 days"),
        ({"repeat_within_days": 1.5}, "rules.platelets.repeat_within_days must be a whole number"),
        ({"repeat_within_days": True}, "rules.platelets.repeat_within_days must be a number"),
    ],
)
def test_a_bad_setting_names_the_key(table, message) -> None:
    with pytest.raises(ValueError, match=message):
        rule_settings_from_mapping({"platelets": table})


def plan(protocol_id: str, days: int | None) -> ProtocolPlan:
    table: dict[str, Any] = {
        "kind": "continuous",
        "panels": {"cbc": {"analytes": ["platelets"], "every_months": 1}},
    }
    if days is not None:
        table["rules"] = {"platelets": {"repeat_within_days": days}}
    return build_protocol(protocol_id, table)


def test_under_two_protocols_the_sooner_repeat_wins() -> None:
    found = evaluate_for_protocols(
        fact("platelets", 40), (), PATIENT, DEFAULT_SETTINGS, [plan("a", None), plan("b", 3)]
    )
    assert [(f.rule, f.repeat_within_days) for f in found] == [("platelets.low", 3)]
    off = evaluate_for_protocols(
        fact("platelets", 40), (), PATIENT, DEFAULT_SETTINGS, [plan("a", 0), plan("b", None)]
    )
    assert [(f.rule, f.repeat_within_days) for f in off] == [("platelets.low", 7)]
