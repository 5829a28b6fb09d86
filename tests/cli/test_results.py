"""`monitor result add` and `monitor results` through the real command (SPEC §4, §9)."""

import json

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, func, select

from monitor.store.models import Base


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def results_of(cli, mrn: str) -> list[dict]:
    return json.loads(cli.ok("results", mrn, "--json"))


def add(cli, *args: str) -> str:
    return cli.ok("result", "add", "A1", *args)


@pytest.fixture
def patient(cli):
    """A patient without a course (storing a result then has no slots to rebuild)."""
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    return "A1"


def test_results_json_lists_every_result_newest_first_with_the_spec_keys(cli, patient):
    add(
        cli,
        "--analyte",
        "platelets",
        "--value",
        "210",
        "--unit",
        "K/uL",
        "--collected",
        "2024-02-12",
    )
    add(
        cli,
        "--analyte",
        "hemoglobin",
        "--value",
        "13.5",
        "--unit",
        "g/dL",
        "--collected",
        "2024-03-11",
        "--source",
        "lab-x",
    )
    add(
        cli,
        "--analyte",
        "creatinine",
        "--value",
        "80",
        "--unit",
        "umol/L",
        "--collected",
        "2024-01-02",
    )

    rows = results_of(cli, patient)

    for row in rows:
        assert {"analyte", "value", "unit", "canonical_value", "collected_on", "source"} <= (
            row.keys()
        )
    assert [r["collected_on"] for r in rows] == ["2024-03-11", "2024-02-12", "2024-01-02"]
    hemoglobin = rows[0]
    assert hemoglobin["analyte"] == "hemoglobin"
    assert hemoglobin["value"] == 13.5
    assert hemoglobin["unit"] == "g/dL"
    assert hemoglobin["canonical_value"] == pytest.approx(135.0)
    assert hemoglobin["source"] == "lab-x"
    assert rows[1]["source"] == "manual"


def test_two_results_of_one_analyte_on_one_day_are_both_stored(cli, patient):
    for value in ("200", "190"):
        add(
            cli,
            "--analyte",
            "platelets",
            "--value",
            value,
            "--unit",
            "10^9/L",
            "--collected",
            "2024-02-12",
        )

    assert sorted(r["value"] for r in results_of(cli, patient)) == [190, 200]


def test_results_of_a_patient_without_results_is_an_empty_list(cli, patient):
    assert results_of(cli, patient) == []


def test_results_prints_a_table(cli, patient):
    add(
        cli,
        "--analyte",
        "platelets",
        "--value",
        "210",
        "--unit",
        "K/uL",
        "--collected",
        "2024-02-12",
    )

    out = cli.ok("results", patient)

    assert "platelets" in out
    assert "2024-02-12" in out


CONVERSIONS = [
    ("platelets", "210", "x10E9/L", 210.0),
    ("platelets", "210000", "/uL", 210.0),
    ("neutrophils", "3.1", "10*3/uL", 3.1),
    ("hemoglobin", "8.1", "mmol/L", 130.491),
    ("creatinine", "1.1", "mg/dL", 97.24),
    ("creatinine", "97", "\u00b5mol/L", 97.0),  # micro sign
    ("creatinine", "97", "\u03bcmol/L", 97.0),  # Greek mu
    ("bilirubin", "1", "mg/dL", 17.1),
    ("alt", "35", "IU/L", 35.0),
    ("tsh", "2.5", "uIU/mL", 2.5),
    ("free_t4", "1", "ng/dL", 12.87),
    ("upcr", "88.4", "mg/g", 10.0),
    ("urine_rbc", "1", "cells/HPF", 1.0),
]


def test_a_value_is_stored_as_received_and_in_the_canonical_unit(cli, patient, subtests):
    for day, (analyte, value, unit, _) in enumerate(CONVERSIONS, start=1):
        add(
            cli,
            "--analyte",
            analyte,
            "--value",
            value,
            "--unit",
            unit,
            "--collected",
            f"2024-02-{day:02d}",
        )

    rows = list(reversed(results_of(cli, patient)))

    assert len(rows) == len(CONVERSIONS)
    for row, (analyte, value, unit, canonical) in zip(rows, CONVERSIONS, strict=True):
        with subtests.test(analyte=analyte, unit=unit):
            assert row["analyte"] == analyte
            assert row["unit"] == unit
            assert row["value"] == pytest.approx(float(value))
            assert row["canonical_value"] == pytest.approx(canonical, rel=1e-6)


@pytest.mark.parametrize("unit", [None, "ordinal"])
def test_an_ordinal_analyte_takes_no_unit_or_the_unit_ordinal(cli, patient, unit):
    args = ["--analyte", "urine_protein", "--value", "trace", "--collected", "2024-02-12"]
    add(cli, *args, *(["--unit", unit] if unit else []))

    (row,) = results_of(cli, patient)
    assert row["analyte"] == "urine_protein"
    assert row["value"] == "trace"


def test_a_result_completes_the_slot_it_was_collected_for(cli, patient):
    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")
    for analyte in ("platelets", "neutrophils"):
        add(
            cli,
            "--analyte",
            analyte,
            "--value",
            "3",
            "--unit",
            "10^9/L",
            "--collected",
            "2024-02-12",
        )
    add(
        cli,
        "--analyte",
        "hemoglobin",
        "--value",
        "130",
        "--unit",
        "g/L",
        "--collected",
        "2024-02-13",
    )

    slots = json.loads(cli.ok("schedule", patient, "--as-of", "2024-02-20", "--json"))["slots"]
    (cbc,) = [s for s in slots if s["panel"] == "cbc" and s["due_on"] == "2024-02-12"]
    assert cbc["status"] == "done"


def test_a_collection_date_of_today_in_the_clinic_time_zone_is_accepted(cli, patient, tmp_path):
    (tmp_path / "config.toml").write_text('[clinic]\ntimezone = "Pacific/Auckland"\n')
    with freeze_time("2026-03-01 23:30:00"):  # UTC; 2 March in Auckland
        add(
            cli,
            "--analyte",
            "platelets",
            "--value",
            "200",
            "--unit",
            "10^9/L",
            "--collected",
            "2026-03-02",
        )

    assert results_of(cli, patient)[0]["collected_on"] == "2026-03-02"


def test_a_collection_date_after_today_in_the_clinic_time_zone_is_refused(cli, engine, patient):
    before = row_counts(engine)
    with freeze_time("2026-03-01 23:30:00"):  # 1 March in London (the default zone)
        result = cli(
            "result",
            "add",
            patient,
            "--analyte",
            "platelets",
            "--value",
            "200",
            "--unit",
            "10^9/L",
            "--collected",
            "2026-03-02",
        )

    assert result.code == 2
    assert "future" in result.err
    assert row_counts(engine) == before


# Bad input: exit 2, a message naming the problem, nothing written.

GOOD = {
    "--analyte": "platelets",
    "--value": "210",
    "--unit": "K/uL",
    "--collected": "2024-02-12",
}


BAD_RESULTS = [
    ({"--analyte": "platelet"}, "unknown analyte"),
    ({"--unit": None}, "missing unit"),
    ({"--unit": ""}, "missing unit"),
    ({"--unit": "mg"}, "unknown unit"),
    ({"--value": "abc"}, "not a number"),
    ({"--value": ""}, "not a number"),
    ({"--value": "-5"}, "negative"),
    ({"--value": "nan"}, "not a finite number"),
    ({"--value": "inf"}, "not a finite number"),
    ({"--collected": "2024-13-01"}, "--collected"),
    ({"--collected": "24-01-01"}, "--collected"),
    ({"--collected": "2024-2-12"}, "--collected"),
    ({"--collected": "2100-01-01"}, "future"),
    ({"--analyte": "urine_protein", "--unit": None, "--value": "lots"}, "not one of"),
    ({"--analyte": "urine_protein", "--unit": "mg/dL", "--value": "trace"}, "unit"),
    ({"--ref-low": "nan"}, "--ref-low"),
    ({"--ref-high": "-1"}, "--ref-high"),
    ({"--ref-low": "400", "--ref-high": "150"}, "low end above its high end"),
]


def test_each_bad_result_input_is_refused_and_writes_nothing(cli, engine, patient, subtests):
    add(
        cli,
        "--analyte",
        "platelets",
        "--value",
        "250",
        "--unit",
        "10^9/L",
        "--collected",
        "2024-01-02",
    )
    before_rows, before_results = row_counts(engine), results_of(cli, patient)

    for changes, named in BAD_RESULTS:
        options = {**GOOD, **changes}
        args = [f"{key}={value}" for key, value in options.items() if value is not None]
        with subtests.test(changes=changes):
            result = cli("result", "add", patient, *args)

            assert result.code == 2, result.err
            assert result.err.startswith("error:")
            assert named in result.err
            assert row_counts(engine) == before_rows

    assert results_of(cli, patient) == before_results


def test_unknown_mrn_exits_2_naming_the_mrn(cli, engine, subtests):
    before = row_counts(engine)
    for command in (
        ["result", "add", "NOPE", *[f"{k}={v}" for k, v in GOOD.items()]],
        ["results", "NOPE"],
        ["results", "NOPE", "--json"],
    ):
        with subtests.test(command=command[0]):
            result = cli(*command)

            assert result.code == 2
            assert "unknown MRN 'NOPE'" in result.err
            assert row_counts(engine) == before
