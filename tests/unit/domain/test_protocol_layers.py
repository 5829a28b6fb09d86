"""Merging a protocol's layers (SPEC §10.4): shipped, protocols_dir, config.toml, [protocol]."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from monitor.domain.lengths import Length, Unit
from monitor.domain.phases import build_protocol
from monitor.domain.protocol_layers import merge_layer, merge_layers
from monitor.domain.tables import ProtocolError

WHERE = "protocols.dmf"
SHIPPED: dict[str, Any] = {
    "name": "Dimethyl fumarate",
    "kind": "continuous",
    "rules": {"neutrophils": {"review_below": 1.8, "urgent_below": 1.2}},
    "panels": {
        "cbc": {"analytes": ["neutrophils"], "every_months": 3, "baseline": True},
        "lft": {"analytes": ["alt"], "every_months": 6, "window_before_days": 14},
        "skin": {"analytes": ["skin_exam"], "every_months": 12, "enabled": False},
    },
}


def test_a_higher_layer_merges_key_by_key() -> None:
    merged = merge_layers([SHIPPED, {"after_stop_months": 3}, {"name": "DMF"}], where=WHERE)
    assert merged["name"] == "DMF"
    assert merged["after_stop_months"] == 3
    assert merged["kind"] == "continuous"
    assert merged["panels"] == SHIPPED["panels"]


def test_a_panel_table_in_a_higher_layer_replaces_the_whole_panel() -> None:
    merged = merge_layers(
        [SHIPPED, {"panels": {"lft": {"analytes": ["alt"], "every_months": 3}}}], where=WHERE
    )
    assert merged["panels"]["lft"] == {"analytes": ["alt"], "every_months": 3}  # no window 14
    assert merged["panels"]["cbc"] == SHIPPED["panels"]["cbc"]


def test_enabled_false_removes_a_panel() -> None:
    merged = merge_layers([SHIPPED, {"panels": {"cbc": {"enabled": False}}}], where=WHERE)
    plan = build_protocol("dmf", merged)
    assert [p.name for p in plan.panels] == ["lft"]


def test_enabled_alone_switches_a_shipped_panel_back_on_with_its_keys() -> None:
    merged = merge_layers([SHIPPED, {"panels": {"skin": {"enabled": True}}}], where=WHERE)
    plan = build_protocol("dmf", merged)
    assert [p.name for p in plan.panels] == ["cbc", "lft", "skin"]
    skin = plan.panels[2]
    assert (skin.analytes, skin.phases[0].every) == (("skin_exam",), Length(12, Unit.MONTHS))


def test_off_then_on_again_in_three_layers() -> None:
    off = {"panels": {"cbc": {"enabled": False}}}
    on = {"panels": {"cbc": {"enabled": True}}}
    merged = merge_layers([SHIPPED, off, on], where=WHERE)
    assert build_protocol("dmf", merged).panels[0].name == "cbc"


def test_a_new_panel_comes_after_the_lower_layers_panels() -> None:
    jcv = {"analytes": ["alt"], "every_months": 6}
    merged = merge_layers([SHIPPED, {"panels": {"jcv": jcv}}], where=WHERE)
    assert list(merged["panels"]) == ["cbc", "lft", "skin", "jcv"]


def test_rule_overrides_merge_key_by_key() -> None:
    merged = merge_layers([SHIPPED, {"rules": {"neutrophils": {"urgent_below": 1.1}}}], where=WHERE)
    assert merged["rules"] == {"neutrophils": {"review_below": 1.8, "urgent_below": 1.1}}


def test_the_old_protocol_table_merges_panels_key_by_key() -> None:
    old = {"monitoring_months": 60, "panels": {"lft": {"every_months": 2}}}
    merged = merge_layer(SHIPPED, old, where="protocol", whole_panels=False)
    assert merged["panels"]["lft"] == {
        "analytes": ["alt"],
        "every_months": 2,
        "window_before_days": 14,
    }
    assert merged["monitoring_months"] == 60


def test_merging_leaves_its_inputs_unchanged() -> None:
    before = copy.deepcopy(SHIPPED)
    higher = {"panels": {"cbc": {"enabled": True}, "lft": {"analytes": ["alt"], "every_months": 1}}}
    merged = merge_layers([SHIPPED, higher], where=WHERE)
    merged["panels"]["cbc"]["analytes"].append("platelets")
    merged["rules"]["neutrophils"]["review_below"] = 2.0
    assert before == SHIPPED


def test_a_layer_with_no_lower_protocol_is_the_protocol() -> None:
    assert merge_layers([{}, SHIPPED], where=WHERE) == SHIPPED


@pytest.mark.parametrize(
    ("higher", "path"),
    [
        ({"panels": {"cbc": {"enabled": "no"}}}, "protocols.dmf.panels.cbc.enabled"),
        (
            {"panels": {"cbc": {"enabled": 0, "every_months": 1}}},
            "protocols.dmf.panels.cbc.enabled",
        ),
    ],
)
def test_enabled_that_is_not_a_boolean_is_refused(higher: dict[str, Any], path: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        merge_layers([SHIPPED, higher], where=WHERE)
    assert caught.value.path == path


def test_a_panel_that_is_not_a_table_is_left_for_the_build_to_name() -> None:
    merged = merge_layers([SHIPPED, {"panels": {"cbc": 3}}], where=WHERE)
    with pytest.raises(ProtocolError) as caught:
        build_protocol("dmf", merged)
    assert caught.value.path == "protocols.dmf.panels.cbc"
