"""RuleSettings: SPEC defaults, building from `[rules.<analyte>]` tables, refusing typos."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.domain.rules import (
    DEFAULT_SETTINGS,
    PatientContext,
    ResultFact,
    RuleSettings,
    Severity,
    evaluate,
    rule_settings_from_mapping,
    rule_settings_to_mapping,
)

PATIENT = PatientContext(sex="F", courses=())


def test_defaults_are_the_spec_numbers() -> None:
    s = RuleSettings()
    assert (s.platelets.review_below, s.platelets.urgent_below, s.platelets.emergency_below) == (
        150,
        100,
        50,
    )
    assert (s.platelets.fall_fraction, s.platelets.dip_days_after_course) == (0.5, 7)
    assert (s.neutrophils.review_below, s.neutrophils.urgent_below) == (1.5, 1.0)
    assert s.neutrophils.emergency_below == 0.5
    h = s.hemoglobin
    assert (h.low_f, h.high_f, h.low_m, h.high_m, h.low_x, h.high_x) == (
        120,
        155,
        130,
        175,
        120,
        175,
    )
    assert h.baseline_drop_urgent == 20
    c = s.creatinine
    assert (c.low_f, c.high_f, c.low_m, c.high_m, c.low_x, c.high_x) == (45, 90, 60, 110, 45, 110)
    assert (c.baseline_ratio_urgent, c.rise_urgent) == (1.5, 26.5)
    assert s.urine_rbc.high == 2
    assert (s.tsh.low, s.tsh.high, s.tsh.urgent_below, s.tsh.urgent_above) == (0.4, 4.0, 0.1, 10)
    for enzyme in (s.alt, s.ast):
        assert (enzyme.uln, enzyme.urgent_multiple, enzyme.emergency_multiple) == (40, 3, 5)
    assert (s.bilirubin.uln, s.bilirubin.combined_multiple) == (21, 2)
    assert s == DEFAULT_SETTINGS


def test_empty_mapping_gives_defaults() -> None:
    assert rule_settings_from_mapping({}) == RuleSettings()


def test_mapping_overrides_only_given_keys() -> None:
    s = rule_settings_from_mapping({"platelets": {"review_below": 140}, "ast": {"uln": 35}})
    assert s.platelets.review_below == 140.0
    assert s.platelets.urgent_below == 100.0
    assert (s.ast.uln, s.alt.uln) == (35.0, 40.0)


def test_to_mapping_round_trips() -> None:
    custom = rule_settings_from_mapping({"tsh": {"high": 4.5}, "platelets": {"fall_fraction": 0.4}})
    table = rule_settings_to_mapping(custom)
    assert table["tsh"]["high"] == 4.5
    assert rule_settings_from_mapping(table) == custom


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"platelet": {"review_below": 1}}, "rules.platelet"),
        ({"lymphocyte": {}}, "rules.lymphocyte"),
        ({"lymphocytes": {"review_below": 0.2, "urgent_below": 0.5}}, "rules.lymphocytes"),
        ({"platelets": {"review_bellow": 1}}, "rules.platelets.review_bellow"),
        ({"tsh": {"high": "4"}}, "rules.tsh.high"),
        ({"tsh": {"high": True}}, "rules.tsh.high"),
        ({"platelets": {"dip_days_after_course": 7.5}}, "rules.platelets.dip_days_after_course"),
        ({"alt": {"uln": -1}}, "rules.alt"),
        ({"alt": {"uln": float("nan")}}, "rules.alt"),
        ({"platelets": {"urgent_below": 200}}, "rules.platelets"),
        ({"platelets": {"fall_fraction": 0}}, "rules.platelets"),
        ({"tsh": {"urgent_above": 3}}, "rules.tsh"),
        ({"alt": {"emergency_multiple": 2}}, "rules.alt"),
    ],
)
def test_bad_tables_raise_value_error_naming_the_key(
    data: dict[str, dict[str, float]], named: str
) -> None:
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        rule_settings_from_mapping(data)


def test_whole_float_is_accepted_for_day_count() -> None:
    s = rule_settings_from_mapping({"platelets": {"dip_days_after_course": 10.0}})
    assert s.platelets.dip_days_after_course == 10
    assert isinstance(s.platelets.dip_days_after_course, int)


def test_custom_settings_change_outcomes() -> None:
    new = ResultFact(1, "platelets", date(2024, 6, 1), 145.0, None)
    assert [f.severity for f in evaluate(new, [], PATIENT)] == [Severity.REVIEW]
    stricter = rule_settings_from_mapping({"platelets": {"review_below": 140}})
    assert evaluate(new, [], PATIENT, stricter) == []
    alt = ResultFact(2, "alt", date(2024, 6, 1), 130.0, None)
    lower = rule_settings_from_mapping({"alt": {"uln": 25}})
    assert [f.severity for f in evaluate(alt, [], PATIENT, lower)] == [Severity.EMERGENCY]
