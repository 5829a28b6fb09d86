"""`[rules.<analyte>] repeat_within_days` through the real command: a bad value stops the
program naming the key, and nothing is stored; a good one moves the repeat slot."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CLINIC_TOML


@pytest.fixture
def patient(cli, tmp_path):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    cli.ok("course", "add", "A1", "--start", "2025-01-06", "--days", "5")
    return tmp_path / "config.toml"


def add_platelets(cli, value: str):
    return cli(
        "result", "add", "A1", "--analyte", "platelets", "--value", value, "--unit", "10^9/L",
        "--collected", "2025-02-12",
    )  # fmt: skip


def repeats(cli) -> list[dict]:
    slots = json.loads(cli.ok("schedule", "A1", "--json", "--as-of", "2025-02-20"))["slots"]
    return [s for s in slots if s["kind"] == "repeat"]


@pytest.mark.parametrize(
    ("table", "value", "named"),
    [
        ("platelets", "-1", "rules.platelets: repeat_within_days must be a finite number >= 0"),
        ("platelets", "7.5", "rules.platelets.repeat_within_days must be a whole number"),
        ("creatinine", '"7"', "rules.creatinine.repeat_within_days: Input should be a valid"),
        ("creatinine", "93", "rules.creatinine: repeat_within_days must be at most 92 days"),
        ("creatinine", "true", "rules.creatinine.repeat_within_days"),
        ("neutrophils", "7", "unknown key rules.neutrophils.repeat_within_days"),
    ],
)
def test_a_bad_repeat_setting_exits_2_naming_it_and_stores_nothing(
    cli, patient, table, value, named
) -> None:
    patient.write_text(f"{CLINIC_TOML}\n[rules.{table}]\nrepeat_within_days = {value}\n")
    result = add_platelets(cli, "90")
    assert result.code == 2
    assert named in result.err
    patient.write_text(CLINIC_TOML)
    assert json.loads(cli.ok("results", "A1", "--json")) == []
    assert repeats(cli) == []


def test_the_schedule_shows_the_repeat_and_a_clinic_setting_moves_or_removes_it(
    cli, patient
) -> None:
    patient.write_text(f"{CLINIC_TOML}\n[rules.platelets]\nrepeat_within_days = 3\n")
    assert add_platelets(cli, "90").code == 0
    (found,) = repeats(cli)
    assert (found["panel"], found["window_start"], found["due_on"], found["status"]) == (
        "cbc", "2025-02-13", "2025-02-15", "overdue",
    )  # fmt: skip
    patient.write_text(f"{CLINIC_TOML}\n[rules.platelets]\nrepeat_within_days = 0\n")
    assert add_platelets(cli, "85").code == 0  # a second sample, judged under the new setting
    flags = json.loads(cli.ok("flags", "--json"))
    assert len(repeats(cli)) == 1, "the setting applies to results stored after it"
    asked = {(f["value"], f["rule"]): f["repeat_due_on"] for f in flags}
    assert asked[90.0, "platelets.low"] == "2025-02-15"
    assert asked[85.0, "platelets.low"] is None
