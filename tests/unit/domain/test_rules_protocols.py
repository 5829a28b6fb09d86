"""Lymphocyte cut-offs and the rules under several protocols at once (SPEC §10.1 `rules`).

Every expected severity is worked out by hand from the thresholds written in each test.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from monitor.domain.phases import ProtocolPlan, build_protocol
from monitor.domain.rules import (
    DEFAULT_SETTINGS,
    PatientContext,
    ResultFact,
    RuleSettings,
    Severity,
    evaluate,
    evaluate_for_protocols,
    protocol_rule_settings,
    rule_settings_from_mapping,
)

ON = date(2025, 3, 3)
PATIENT = PatientContext(sex="F", courses=())
R, U, E = Severity.REVIEW, Severity.URGENT, Severity.EMERGENCY


def fact(analyte: str, value: float, key: int = 1, low: float | None = None) -> ResultFact:
    return ResultFact(key, analyte, ON, value, None, ref_low=low)


def plan(protocol_id: str, rules: dict[str, Any] | None = None) -> ProtocolPlan:
    table: dict[str, Any] = {
        "kind": "continuous",
        "panels": {"cbc": {"analytes": ["lymphocytes"], "every_months": 3}},
    }
    if rules:
        table["rules"] = rules
    return build_protocol(protocol_id, table)


DMF = plan("dmf", {"lymphocytes": {"review_below": 0.8, "urgent_below": 0.5}})
CLADRIBINE = plan("cladribine", {"lymphocytes": {"review_below": 0.5, "urgent_below": 0.2}})
NO_RULES = plan("plain")


def found(
    value: float, protocols: list[ProtocolPlan], base: RuleSettings = DEFAULT_SETTINGS
) -> dict[str, Severity]:
    findings = evaluate_for_protocols(fact("lymphocytes", value), [], PATIENT, base, protocols)
    rules = [f.rule for f in findings]
    assert len(rules) == len(set(rules)), "one finding per rule"
    return {f.rule: f.severity for f in findings}


@pytest.mark.parametrize("value", [0.0, 0.01, 0.3, 5.0])
def test_lymphocytes_are_never_flagged_without_a_cut_off(value: float) -> None:
    assert found(value, []) == {}
    assert found(value, [NO_RULES]) == {}


def test_the_labs_lower_limit_never_flags_lymphocytes() -> None:
    findings = evaluate(fact("lymphocytes", 0.3, low=1.0), [], PATIENT, DEFAULT_SETTINGS)
    assert findings == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.8, None), (0.79, R), (0.5, R), (0.49, U), (0.0, U)],
)
def test_a_protocols_cut_offs_flag_lymphocytes(value: float, expected: Severity | None) -> None:
    """DMF: review below 0.8, urgent below 0.5, no emergency tier (0 = not set)."""
    assert found(value, [DMF]).get("lymphocytes.low") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    # DMF gives urgent < 0.5, review < 0.8; cladribine urgent < 0.2, review < 0.5.
    [(0.7, R), (0.45, U), (0.19, U), (0.9, None)],
)
def test_two_protocols_keep_the_most_severe_finding(value: float, expected: Severity) -> None:
    assert found(value, [CLADRIBINE, DMF]).get("lymphocytes.low") == expected
    assert found(value, [DMF, CLADRIBINE]).get("lymphocytes.low") == expected


def test_a_protocol_key_falls_back_to_the_clinics_rules_key_by_key() -> None:
    """[rules.lymphocytes] emergency_below = 0.1: DMF does not give it, so it keeps the base's."""
    base = rule_settings_from_mapping({"lymphocytes": {"emergency_below": 0.1}})

    assert found(0.05, [DMF], base) == {"lymphocytes.low": E}
    assert found(0.3, [DMF], base) == {"lymphocytes.low": U}
    assert found(0.3, [NO_RULES], base) == {}  # the base alone: emergency only, below 0.1
    assert found(0.05, [], base) == {"lymphocytes.low": E}


def test_an_override_falls_back_to_the_clinics_uln_not_the_product_default() -> None:
    """Base ULN 50; the protocol sets urgent at 2 x ULN. ALT 90: 90 > 50 (review), 90 < 100.
    Falling back to the product's ULN 40 instead would make it 90 > 80, urgent."""
    base = rule_settings_from_mapping({"alt": {"uln": 50}})
    strict = build_protocol(
        "strict",
        {"kind": "continuous", "panels": {"lft": {"analytes": ["alt"], "every_months": 1}},
         "rules": {"alt": {"urgent_multiple": 2.0}}},
    )  # fmt: skip
    settings = protocol_rule_settings(base, strict.rules)
    assert (settings.alt.uln, settings.alt.urgent_multiple) == (50.0, 2.0)

    def severity(value: float) -> Severity | None:
        findings = evaluate_for_protocols(fact("alt", value), [], PATIENT, base, [strict])
        return max((f.severity for f in findings), key=lambda s: s.rank, default=None)

    assert severity(90) == R
    assert severity(101) == U  # > 2 x 50
    assert severity(251) == E  # > 5 x 50, the base's emergency multiple


def test_a_finding_every_protocol_gives_is_kept_once() -> None:
    new = fact("platelets", 40.0)
    findings = evaluate_for_protocols(new, [], PATIENT, DEFAULT_SETTINGS, [NO_RULES, DMF])
    assert findings == evaluate(new, [], PATIENT, DEFAULT_SETTINGS)
    assert [(f.rule, f.severity) for f in findings] == [("platelets.low", E)]


def test_overrides_out_of_order_with_the_base_are_refused_naming_the_key() -> None:
    base = rule_settings_from_mapping({"lymphocytes": {"review_below": 0.3}})
    with pytest.raises(ValueError, match=r"rules\.lymphocytes"):
        protocol_rule_settings(base, (("lymphocytes", (("urgent_below", 0.5),)),))
