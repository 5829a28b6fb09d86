"""`[rules.<analyte>]` tables in config.toml change the flag thresholds (SPEC §4, §8).

The `cli` fixture runs in an empty folder, so ./config.toml there is the configuration read.
"""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def config_file(tmp_path):
    def write(text: str) -> None:
        (tmp_path / "config.toml").write_text(text)

    return write


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    return "A1"


def add(cli, analyte: str, value: str, unit: str, collected: str = "2024-06-10"):
    return cli(
        "result", "add", "A1", "--analyte", analyte, "--value", value, "--unit", unit,
        "--collected", collected,
    )  # fmt: skip


def found(cli) -> set[tuple[str, str]]:
    return {(f["rule"], f["severity"]) for f in json.loads(cli.ok("flags", "--json"))}


@pytest.mark.parametrize(
    ("toml", "result", "default", "configured"),
    [
        (
            "[rules.platelets]\nreview_below = 160\n",
            ("platelets", "155", "K/uL"),
            set(),
            {("platelets.low", "review")},
        ),
        (
            "[rules.neutrophils]\nurgent_below = 1.2\n",
            ("neutrophils", "1.1", "K/uL"),
            {("neutrophils.low", "review")},
            {("neutrophils.low", "urgent")},
        ),
        (
            "[rules.tsh]\nhigh = 5.0\n",
            ("tsh", "4.5", "mIU/L"),
            {("tsh.out_of_range", "review")},
            set(),
        ),
        (
            "[rules.alt]\nuln = 35\n",  # 36 > 35; and 3 x 35 = 105 < 110
            ("alt", "110", "U/L"),
            {("alt.above_range", "review")},
            {("alt.above_range", "urgent")},
        ),
        (
            "[rules.hemoglobin]\nlow_f = 125\n",
            ("hemoglobin", "12.2", "g/dL"),
            set(),
            {("hemoglobin.below_range", "review")},
        ),
        (
            "[rules.creatinine]\nhigh_f = 100\n",
            ("creatinine", "95", "umol/L"),
            {("creatinine.above_range", "review")},
            set(),
        ),
        (
            "[rules.urine_rbc]\nhigh = 5\n",
            ("urine_rbc", "4", "/HPF"),
            {("urine.haematuria", "review")},
            set(),
        ),
    ],
)
def test_a_rules_table_in_the_config_changes_the_outcome(
    cli, patient, config_file, toml, result, default, configured
):
    assert add(cli, *result).code == 0
    assert found(cli) == default

    config_file(toml)
    cli.ok("patient", "add", "B2", "--name", "Bob Example", "--sex", "F")
    analyte, value, unit = result
    cli.ok(
        "result", "add", "B2", "--analyte", analyte, "--value", value, "--unit", unit,
        "--collected", "2024-06-10",
    )  # fmt: skip

    flags = json.loads(cli.ok("flags", "--json"))
    assert {(f["rule"], f["severity"]) for f in flags if f["mrn"] == "B2"} == configured


def test_a_configured_dip_window_changes_which_platelet_flags_are_capped(cli, config_file):
    config_file("[rules.platelets]\ndip_days_after_course = 14\n")
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")

    add(cli, "platelets", "80", "K/uL", "2024-01-26")  # day 14 after the last infusion

    (flag,) = json.loads(cli.ok("flags", "--json"))
    assert flag["severity"] == "review"
    assert "post-infusion dip" in flag["message"]


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[rules.platelets]\nnonsense = 1\n", "rules.platelets.nonsense"),
        ("[rules.platlets]\nreview_below = 160\n", "rules.platlets"),
        ('[rules.tsh]\nhigh = "five"\n', "rules.tsh"),
        ("[rules.platelets]\nreview_below = 40\n", "rules.platelets"),  # below urgent_below
        ("[rules.alt]\nuln = -1\n", "rules.alt"),
        ("[rules.platelets]\ndip_days_after_course = 7.5\n", "rules.platelets"),
    ],
)
def test_a_bad_rules_table_exits_2_naming_the_key_and_stores_nothing(
    cli, patient, config_file, toml, named
):
    config_file(toml)

    result = add(cli, "platelets", "40", "K/uL")

    assert result.code == 2
    assert named in result.err
    config_file("")
    assert json.loads(cli.ok("results", "A1", "--json")) == []
