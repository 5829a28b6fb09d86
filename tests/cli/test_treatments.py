"""`monitor treatment start|stop`, `course add --protocol`, `slot waive --protocol` and the JSON
keys of SPEC §10.3 through the real command; every bad input of §10.3 exits 2 with nothing
written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, func, select

from monitor.store.models import Base

PROTOCOLS = """
[protocols.site_nat]
name = "Site natalizumab"
kind = "continuous"
after_stop_months = 6

[protocols.site_nat.panels.lft]
analytes = ["alt", "bilirubin"]
baseline = true
patient_words = "your liver blood test"
phases = [{ every = "1m", until = "3m" }, { every = "3m" }]

[protocols.site_clad]
name = "Site cladribine"
kind = "courses"
monitoring_months = 12

[protocols.site_clad.panels.cbc]
analytes = ["platelets", "neutrophils", "hemoglobin"]
phases = [{ at = ["2m", "6m"] }]
"""


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def patient(cli, tmp_path: Path) -> str:
    (tmp_path / "config.toml").write_text(PROTOCOLS, encoding="utf-8")
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    return "A1"


def show(cli, mrn: str) -> dict:
    return json.loads(cli.ok("patient", "show", mrn, "--json"))


def schedule(cli, mrn: str, as_of: str) -> list[dict]:
    return json.loads(cli.ok("schedule", mrn, "--as-of", as_of, "--json"))["slots"]


def test_a_switch_from_alemtuzumab_keeps_both_series(cli, patient):
    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")
    cli.ok("treatment", "start", patient, "site_nat", "--on", "2025-03-03")

    data = show(cli, patient)
    assert [
        (t["protocol"], t["kind"], t["started_on"], t["stopped_on"]) for t in data["treatments"]
    ] == [
        ("alemtuzumab", "courses", "2024-01-08", None),
        ("site_nat", "continuous", "2025-03-03", None),
    ]
    assert data["treatments"][0]["courses"] == data["courses"]
    assert data["treatments"][1]["courses"] == []
    assert data["monitoring_end"] is None  # an open, uncapped treatment

    slots = schedule(cli, patient, "2025-03-10")
    nat = [s for s in slots if s["protocol"] == "site_nat"]
    assert [(s["due_on"], s["kind"], s["course"], s["treatment"]) for s in nat[:5]] == [
        ("2025-03-03", "baseline", None, 2),
        ("2025-04-03", "recurring", None, 2),
        ("2025-05-03", "recurring", None, 2),
        ("2025-06-03", "recurring", None, 2),
        ("2025-09-03", "recurring", None, 2),
    ]
    shown_until = (datetime.now(UTC).date() + relativedelta(months=13)).isoformat()
    assert nat[-1]["due_on"] <= shown_until  # open-ended: up to 12 months after today
    alem = [s for s in slots if s["protocol"] == "alemtuzumab"]
    assert {s["treatment"] for s in alem} == {1} and alem[-1]["due_on"] == "2028-01-12"


def test_a_stop_ends_the_series_after_its_tail_and_sets_the_monitoring_end(cli, patient):
    cli.ok("treatment", "start", patient, "site_nat", "--on", "2025-01-15")
    cli.ok("treatment", "stop", patient, "site_nat", "--on", "2025-02-20", "--reason", "JCV")

    data = show(cli, patient)
    assert data["treatments"][0]["stopped_on"] == "2025-02-20"
    assert data["monitoring_end"] == "2025-08-20"
    dues = [s["due_on"] for s in schedule(cli, patient, "2025-03-01")]
    assert dues == ["2025-01-15", "2025-02-15", "2025-03-15", "2025-04-15", "2025-07-15"]
    audit = json.loads(cli.ok("audit", patient, "--json"))
    assert {"treatment.start", "treatment.stop"} <= {entry["action"] for entry in audit}


def test_a_course_under_another_courses_protocol_may_overlap_alemtuzumab(cli, patient):
    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")
    result = cli("course", "add", patient, "--protocol", "site_clad", "--dates", "2024-01-10")

    assert result.code == 0, result.err
    assert "warning" not in result.err  # the 5/3-day warnings are alemtuzumab's only
    clad = [s for s in schedule(cli, patient, "2024-02-01") if s["protocol"] == "site_clad"]
    assert [(s["due_on"], s["course"]) for s in clad] == [("2024-03-10", 1), ("2024-07-10", 1)]


def test_overdue_rows_carry_the_protocol_and_treatment(cli, patient):
    cli.ok("treatment", "start", patient, "site_nat", "--on", "2025-01-15")
    rows = json.loads(cli.ok("overdue", "--as-of", "2025-03-01", "--json"))
    # the baseline (15 Jan) is missed once the next window opened (8 Feb), so not listed
    assert [
        (r["protocol"], r["treatment"], r["panel"], r["due_on"], r["missed"]) for r in rows
    ] == [
        ("site_nat", 1, "lft", "2025-02-15", 1),
    ]


def test_waive_needs_the_protocol_when_two_series_have_the_slot(cli, patient, tmp_path):
    config = PROTOCOLS.replace(
        'phases = [{ every = "1m", until = "3m" }, { every = "3m" }]',
        'phases = [{ every = "1m" }]',
    ).replace('analytes = ["alt", "bilirubin"]\nbaseline = true', 'analytes = ["alt", "bilirubin"]')
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    cli.ok("course", "add", patient, "--dates", "2024-01-12")
    cli.ok("treatment", "start", patient, "site_nat", "--on", "2024-01-12")
    waive = (
        "slot",
        "waive",
        patient,
        "--panel",
        "lft",
        "--due",
        "2024-02-12",
        "--by",
        "N",
        "--reason",
        "r",
    )

    refused = cli(*waive)
    assert refused.code == 2
    assert "alemtuzumab, site_nat" in refused.err and "--protocol" in refused.err
    cli.ok(*waive, "--protocol", "site_nat")
    statuses = {
        (s["protocol"], s["status"])
        for s in schedule(cli, patient, "2024-02-13")
        if s["due_on"] == "2024-02-12" and s["panel"] == "lft"
    }
    assert statuses == {("alemtuzumab", "due"), ("site_nat", "waived")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("treatment", "start", "A1", "nope", "--on", "2025-01-01"), "unknown protocol 'nope'"),
        (("treatment", "start", "A1", "alemtuzumab", "--on", "2025-01-01"), "course add"),
        (
            ("course", "add", "A1", "--protocol", "site_nat", "--dates", "2025-01-01"),
            "treatment start",
        ),
        (
            ("course", "add", "A1", "--protocol", "nope", "--dates", "2025-01-01"),
            "unknown protocol",
        ),
        (("treatment", "stop", "A1", "site_nat", "--on", "2025-01-01"), "no open site_nat"),
        (("treatment", "stop", "A1", "alemtuzumab", "--on", "2025-01-01"), "course add"),
        (("treatment", "start", "A1", "site_nat", "--on", "2025-13-01"), "--on"),
        (("treatment", "start", "NOPE", "site_nat", "--on", "2025-01-01"), "unknown MRN"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cli, engine, patient, args, message):
    before = row_counts(engine)
    result = cli(*args)
    assert result.code == 2, result.out
    assert message in result.err
    assert row_counts(engine) == before


def test_a_second_open_treatment_a_stop_before_the_start_and_a_restart(cli, engine, patient):
    cli.ok("treatment", "start", patient, "site_nat", "--on", "2025-01-15")
    before = row_counts(engine)
    second = cli("treatment", "start", patient, "site_nat", "--on", "2025-06-01")
    early = cli("treatment", "stop", patient, "site_nat", "--on", "2025-01-14")
    assert (second.code, early.code) == (2, 2)
    assert "already has an open site_nat" in second.err
    assert "before the treatment's start" in early.err
    assert row_counts(engine) == before

    cli.ok("treatment", "stop", patient, "site_nat", "--on", "2025-02-01")
    too_soon = cli("treatment", "start", patient, "site_nat", "--on", "2025-02-01")
    assert too_soon.code == 2 and "must start after" in too_soon.err
    cli.ok("treatment", "start", patient, "site_nat", "--on", "2025-05-01")

    treatments = show(cli, patient)["treatments"]
    assert [(t["started_on"], t["stopped_on"]) for t in treatments] == [
        ("2025-01-15", "2025-02-01"),
        ("2025-05-01", None),
    ]
    old_tail = [s["due_on"] for s in schedule(cli, patient, "2025-05-02") if s["treatment"] == 1]
    assert old_tail[-1] < "2025-05-01"  # the old tail ends the day before the restart


def test_a_result_is_judged_under_the_rules_of_the_treatment_active_when_it_was_taken(cli, patient):
    """Lymphocytes are never flagged by default (SPEC §4); dimethyl fumarate's shipped rules
    flag 0.4 x10^9/L as urgent while that treatment is monitored, and not before it started."""
    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")
    cli.ok("treatment", "start", patient, "dimethyl_fumarate", "--on", "2025-09-01")
    before = ("result", "add", patient, "--analyte", "lymphocytes", "--value", "0.4")
    cli.ok(*before, "--unit", "10^9/L", "--collected", "2025-01-10")
    assert json.loads(cli.ok("flags", "--json")) == []

    cli.ok(*before, "--unit", "10^9/L", "--collected", "2025-10-01")
    flags = json.loads(cli.ok("flags", "--json"))
    assert [(f["severity"], f["analyte"]) for f in flags] == [("urgent", "lymphocytes")]
