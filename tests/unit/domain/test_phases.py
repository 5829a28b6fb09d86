"""A protocol definition from its TOML table (SPEC §10.1, §10.4): defaults, and every refusal
naming its key path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from monitor.domain.lengths import Length, Unit
from monitor.domain.phases import (
    Kind,
    PanelPlan,
    Phase,
    ProtocolPlan,
    build_protocol,
)
from monitor.domain.tables import ProtocolError
from monitor.errors import InvalidInput

M = Unit.MONTHS
W = Unit.WEEKS

NATALIZUMAB: dict[str, Any] = {
    "name": "Natalizumab",
    "kind": "continuous",
    "after_stop_months": 6,
    "panels": {
        "jcv": {
            "analytes": ["alt"],
            "patient_words": "your JCV blood test",
            "phases": [{"every": "3m", "until": "24m"}, {"every": "6m"}],
        },
    },
}


def test_defaults_fill_in_what_a_protocol_leaves_out() -> None:
    plan = build_protocol("minimal", {"panels": {"lft": {"analytes": ["alt"], "every_months": 3}}})
    assert plan == ProtocolPlan(
        id="minimal",
        name="minimal",
        kind=Kind.COURSES,
        panels=(
            PanelPlan(
                name="lft",
                analytes=("alt",),
                phases=(Phase(every=Length(3, M), from_=Length(0, M)),),
                baseline=False,
                window_before_days=7,
                window_after_days=7,
                patient_words="your routine tests",
                sex=None,
                indefinite=False,
            ),
        ),
        monitoring_months=48,
        after_stop_months=0,
        baseline_window_days=30,
    )


def test_every_months_is_one_every_phase_in_months() -> None:
    by_months = build_protocol("p", {"panels": {"lft": {"analytes": ["alt"], "every_months": 2}}})
    by_phase = build_protocol(
        "p", {"panels": {"lft": {"analytes": ["alt"], "phases": [{"every": "2m"}]}}}
    )
    assert by_months == by_phase


def test_a_continuous_protocol_has_no_cap_unless_given() -> None:
    plan = build_protocol("natalizumab", NATALIZUMAB)
    assert (plan.kind, plan.monitoring_months, plan.after_stop_months) == (Kind.CONTINUOUS, None, 6)
    assert plan.panels[0].patient_words == "your JCV blood test"


def test_from_defaults_to_the_previous_until() -> None:
    plan = build_protocol("natalizumab", NATALIZUMAB)
    assert plan.panels[0].phases == (
        Phase(every=Length(3, M), from_=Length(0, M), until=Length(24, M)),
        Phase(every=Length(6, M), from_=Length(24, M)),
    )


def test_every_key_is_read() -> None:
    table = {
        "name": "Teriflunomide",
        "kind": "continuous",
        "monitoring_months": 120,
        "after_stop_months": 2,
        "baseline_window_days": 14,
        "rules": {"alt": {"urgent_multiple": 5.0}},
        "panels": {
            "lft": {
                "analytes": ["alt", "bilirubin"],
                "baseline": True,
                "window_before_days": 3,
                "window_after_days": 10,
                "patient_words": "your liver blood test",
                "indefinite": False,
                "phases": [
                    {"every": "2w", "until": "6m"},
                    {"at": ["8m"]},
                    {"every": "3m", "from": "9m"},
                ],
            },
            "cervical": {
                "analytes": ["skin_exam"],
                "sex": "F",
                "indefinite": True,
                "every_months": 12,
            },
            "off": {"enabled": False, "whatever": "is not read"},
        },
    }
    plan = build_protocol("teriflunomide", table)
    assert [p.name for p in plan.panels] == ["lft", "cervical"]
    lft, cervical = plan.panels
    assert lft.phases == (
        Phase(every=Length(2, W), from_=Length(0, W), until=Length(6, M)),
        Phase(at=(Length(8, M),)),
        Phase(every=Length(3, M), from_=Length(9, M)),
    )
    assert (lft.baseline, lft.window_before_days, lft.window_after_days) == (True, 3, 10)
    assert (cervical.sex, cervical.indefinite) == ("F", True)
    assert (plan.monitoring_months, plan.baseline_window_days) == (120, 14)
    assert plan.rules == (("alt", (("urgent_multiple", 5.0),)),)


def jcv(*phases: dict[str, Any]) -> dict[str, Any]:
    table = copy.deepcopy(NATALIZUMAB)
    table["panels"]["jcv"]["phases"] = list(phases)
    return table


def with_panel(**keys: Any) -> dict[str, Any]:
    table = copy.deepcopy(NATALIZUMAB)
    table["panels"]["jcv"].update(keys)
    return table


def without(table: dict[str, Any], *keys: str) -> dict[str, Any]:
    table = copy.deepcopy(table)
    panel = table["panels"]["jcv"]
    for key in keys:
        del panel[key]
    return table


JCV = "protocols.natalizumab.panels.jcv"


@pytest.mark.parametrize(
    ("table", "path", "fragment"),
    [
        # phases: SPEC §10.4's rules
        (
            jcv({"every": "3m", "until": "24m"}, {"every": "6m", "until": "12m"}),
            f"{JCV}.phases[1].until",
            "later than from (24m)",
        ),
        (
            jcv({"every": "3m", "until": "6m"}, {"every": "6m", "until": "6m"}),
            f"{JCV}.phases[1].until",
            "later than",
        ),
        (jcv({"until": "6m"}), f"{JCV}.phases[0]", "exactly one of every and at"),
        (jcv({"every": "1m", "at": ["2m"]}), f"{JCV}.phases[0]", "exactly one of every and at"),
        (jcv({"at": ["2m"], "from": "1m"}), f"{JCV}.phases[0].from", "only an every phase"),
        (jcv({"at": ["2m"], "until": "3m"}), f"{JCV}.phases[0].until", "only an every phase"),
        (
            jcv({"every": "1m"}, {"every": "3m"}),
            f"{JCV}.phases[0].until",
            "required on every phase but the last",
        ),
        (
            jcv({"at": ["1m"]}, {"every": "3m"}),
            f"{JCV}.phases[1].from",
            "required after an at phase",
        ),
        (
            jcv({"every": "2w", "from": "1m", "until": "10w"}),
            f"{JCV}.phases[0].until",
            "in the unit of from (1m)",
        ),
        (
            jcv({"every": "2w", "until": "6m"}, {"every": "1m", "until": "60w"}),
            f"{JCV}.phases[1].until",
            "unit of from (6m)",
        ),
        (jcv({"every": 3}), f"{JCV}.phases[0].every", "a bare number is not a length"),
        (jcv({"every": "3y"}), f"{JCV}.phases[0].every", "'3y' is not a length"),
        (jcv({"every": "0m"}), f"{JCV}.phases[0].every", "at least 1"),
        (jcv({"every": "1m", "from": "-1m"}), f"{JCV}.phases[0].from", "at least 0"),
        (jcv({"every": "1m", "until": "-2m"}), f"{JCV}.phases[0].until", "at least 0"),
        (jcv({"at": ["0d"]}), f"{JCV}.phases[0].at[0]", "at least 1"),
        (jcv({"at": ["1m", "2m", "1m"]}), f"{JCV}.phases[0].at[2]", "listed twice"),
        (jcv({"at": []}), f"{JCV}.phases[0].at", "list of 1-100"),
        (jcv({"at": "2m"}), f"{JCV}.phases[0].at", "list of 1-100"),
        (jcv({"every": "1m", "to": "2m"}), f"{JCV}.phases[0].to", "unknown key"),
        (jcv("every 1m"), f"{JCV}.phases[0]", "must be a table"),
        (jcv(), f"{JCV}.phases", "list of 1-20"),
        # panels
        (with_panel(every_months=3), JCV, "exactly one of every_months and phases"),
        (without(NATALIZUMAB, "phases"), JCV, "exactly one of every_months and phases"),
        (without(NATALIZUMAB, "analytes"), f"{JCV}.analytes", "required"),
        (with_panel(analytes=[]), f"{JCV}.analytes", "list of 1-50"),
        (
            with_panel(analytes=["alt", "jcv_index"]),
            f"{JCV}.analytes[1]",
            "unknown analyte 'jcv_index'",
        ),
        (with_panel(analytes=["alt", "alt"]), f"{JCV}.analytes[1]", "listed twice"),
        (with_panel(sex="X"), f"{JCV}.sex", "must be 'F' or 'M'"),
        (with_panel(sex="f"), f"{JCV}.sex", "must be 'F' or 'M'"),
        (with_panel(baseline="yes"), f"{JCV}.baseline", "true or false"),
        (with_panel(indefinite=1), f"{JCV}.indefinite", "true or false"),
        (with_panel(enabled="no"), f"{JCV}.enabled", "true or false"),
        (with_panel(window_before_days=366), f"{JCV}.window_before_days", "0 to 365"),
        (with_panel(window_after_days=True), f"{JCV}.window_after_days", "whole number"),
        (with_panel(patient_words="a\nb"), f"{JCV}.patient_words", "one line"),
        (with_panel(patient_words=""), f"{JCV}.patient_words", "must not be empty"),
        (with_panel(every="3m"), f"{JCV}.every", "unknown key"),
        # the protocol
        (
            {**NATALIZUMAB, "panels": {"JCV": NATALIZUMAB["panels"]["jcv"]}},
            "protocols.natalizumab.panels.JCV",
            "panel name",
        ),
        (
            {**NATALIZUMAB, "panels": {"2nd": NATALIZUMAB["panels"]["jcv"]}},
            "protocols.natalizumab.panels.2nd",
            "panel name",
        ),
        (
            {**NATALIZUMAB, "panels": {"jcv-index": NATALIZUMAB["panels"]["jcv"]}},
            "protocols.natalizumab.panels.jcv-index",
            "panel name",
        ),
        (
            {**NATALIZUMAB, "panels": {"JCV": {"enabled": False}}},
            "protocols.natalizumab.panels.JCV",
            "panel name",
        ),
        ({**NATALIZUMAB, "panels": {}}, "protocols.natalizumab.panels", "at least one panel"),
        (
            {**NATALIZUMAB, "panels": {"jcv": {"enabled": False}}},
            "protocols.natalizumab.panels",
            "at least one panel",
        ),
        ({**NATALIZUMAB, "panels": []}, "protocols.natalizumab.panels", "must be a table"),
        (
            {**NATALIZUMAB, "kind": "weekly"},
            "protocols.natalizumab.kind",
            "'courses' or 'continuous'",
        ),
        (
            {**NATALIZUMAB, "kind": "courses"},
            "protocols.natalizumab.after_stop_months",
            "only a continuous protocol",
        ),
        (
            {**NATALIZUMAB, "monitoring_months": 0},
            "protocols.natalizumab.monitoring_months",
            "1 to 240",
        ),
        (
            {**NATALIZUMAB, "monitoring_months": 12.0},
            "protocols.natalizumab.monitoring_months",
            "whole number",
        ),
        (
            {**NATALIZUMAB, "after_stop_months": 241},
            "protocols.natalizumab.after_stop_months",
            "0 to 240",
        ),
        (
            {**NATALIZUMAB, "baseline_window_days": -1},
            "protocols.natalizumab.baseline_window_days",
            "0 to 365",
        ),
        ({**NATALIZUMAB, "name": 7}, "protocols.natalizumab.name", "must be text"),
        ({**NATALIZUMAB, "drug": "x"}, "protocols.natalizumab.drug", "unknown key"),
        ({**NATALIZUMAB, "every_months": 1}, "protocols.natalizumab.every_months", "unknown key"),
        (
            {**NATALIZUMAB, "rules": {"jcv": {"x": 1}}},
            "protocols.natalizumab",
            "unknown key rules.jcv",
        ),
        (
            {**NATALIZUMAB, "rules": {"alt": {"nonsense": 1}}},
            "protocols.natalizumab",
            "unknown key rules.alt.nonsense",
        ),
        (
            {**NATALIZUMAB, "rules": {"alt": 3}},
            "protocols.natalizumab.rules.alt",
            "must be a table",
        ),
    ],
)
def test_a_bad_definition_is_refused_naming_its_key(
    table: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        build_protocol("natalizumab", table)
    assert caught.value.path == path
    assert fragment in caught.value.problem
    assert str(caught.value).startswith(f"{path}: ")
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize("protocol_id", ["Natalizumab", "1drug", "dmf-240", ""])
def test_a_protocol_id_is_a_lower_case_name(protocol_id: str) -> None:
    with pytest.raises(ProtocolError, match="protocol id"):
        build_protocol(protocol_id, NATALIZUMAB)


def test_a_key_path_quotes_a_key_a_file_could_fill_with_anything() -> None:
    with pytest.raises(ProtocolError) as caught:
        build_protocol("p", {**NATALIZUMAB, "na me": 1})
    assert caught.value.path == "protocols.p.'na me'"


def test_the_caller_names_where_a_file_protocol_lives() -> None:
    with pytest.raises(ProtocolError) as caught:
        build_protocol(
            "natalizumab", jcv({"every": "1m"}, {"every": "2m"}), where="natalizumab.toml"
        )
    assert caught.value.path == "natalizumab.toml.panels.jcv.phases[0].until"


def test_an_analyte_the_site_adds_is_known_when_passed_in() -> None:
    table = with_panel(analytes=["jcv_index"])
    plan = build_protocol("natalizumab", table, known_analytes={"jcv_index", "alt"})
    assert plan.panels[0].analytes == ("jcv_index",)


def test_a_plan_is_hashable_for_caching() -> None:
    assert hash(build_protocol("natalizumab", NATALIZUMAB)) == hash(
        build_protocol("natalizumab", NATALIZUMAB)
    )
