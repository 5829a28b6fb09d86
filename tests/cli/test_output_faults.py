"""Small output faults (issue 10, item 11): what the commands print is what a person or a script
needs, with nothing odd in it."""

import json
import random
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import create_engine, select

from monitor.demo import synthetic_names
from monitor.store.models import Patient
from tests.conftest import CLINIC_TOML

ORU = (
    "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1\r"
    "PID|1||{mrn}^^^CITY^MR||Example^Ann\r"
    "OBR|1||ACC1|58410-2^CBC^LN|||20240212083000\r"
    "OBX|1|NM|777-3^Platelets^LN||210|K/uL|||||F\r"
    "OBX|2|NM|2160-0^Creatinine^LN||0.8|mg/dL|||||F\r"
    "OBX|3|NM|99999-9^Unknown^LN||1|U/L|||||F\r"
)


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    return "A1"


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_status_with_nothing_pending_gives_no_age(cli):
    out = cli("status").out
    assert "outbox: 0 pending," in out
    assert "None" not in out


def test_canonical_values_are_rounded_for_display_and_kept_as_stored(cli, patient):
    cli.ok("result", "add", "A1", "--analyte", "creatinine", "--value", "0.8", "--unit", "mg/dL",
           "--collected", "2025-02-07")  # fmt: skip
    table = cli.ok("results", "A1")
    assert "70.72" in table and "70.72000000000001" not in table
    (row,) = json.loads(cli.ok("results", "A1", "--json"))
    assert row["canonical_value"] == 0.8 * 88.4  # the stored value, unrounded


def test_the_demo_never_gives_two_patients_the_same_name(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from monitor.cli import app

    monkeypatch.chdir(tmp_path)
    for variable in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    with freeze_time("2026-03-02 10:00:00"):
        result = CliRunner().invoke(app, ["demo", "--patients", "30"])
    assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'monitor-demo.db'}")
    with engine.connect() as connection:
        names = list(connection.scalars(select(Patient.name)))
    engine.dispose()
    assert len(names) == 30 and len(set(names)) == 30


def test_there_are_distinct_demo_names_for_the_largest_demo():
    names = synthetic_names(random.Random(1), 2000)
    assert len(set(names)) == 2000


def test_import_json_gives_the_counts_per_file_and_in_total(cli, patient, tmp_path):
    first = write(tmp_path, "a.hl7", ORU.format(mrn="A1"))
    second = write(tmp_path, "b.hl7", ORU.format(mrn="NOBODY"))
    data = json.loads(cli.ok("import", first, second, "--json"))
    assert [f["file"] for f in data["files"]] == [first, second]
    assert {k: data["files"][0][k] for k in ("stored", "duplicates", "quarantined", "skipped")} == {
        "stored": 2, "duplicates": 0, "quarantined": 1, "skipped": 0
    }  # fmt: skip
    assert data["files"][1]["quarantined"] == 3
    assert "unknown patient" in data["files"][1]["quarantine"][0]["reason"]
    assert (data["stored"], data["quarantined"], data["dry_run"]) == (2, 4, False)
    again = json.loads(cli.ok("import", first, "--json", "--dry-run"))
    assert (again["stored"], again["duplicates"], again["dry_run"]) == (0, 2, True)


def test_daily_json_gives_its_counts(cli, patient):
    Path("config.toml").write_text(CLINIC_TOML, encoding="utf-8")  # not held by placeholders
    data = json.loads(cli.ok("daily", "--as-of", "2025-03-01", "--json"))
    assert data["run_on"] == "2025-03-01"
    assert {"queued", "skipped", "set_aside"} <= data.keys()
    assert data["queued"] >= 1  # the staff digest


def test_send_json_gives_its_counts(cli, patient):
    Path("config.toml").write_text(CLINIC_TOML, encoding="utf-8")  # not held by placeholders
    cli.ok("daily", "--as-of", "2025-03-01")
    data = json.loads(cli.ok("send", "--json"))
    assert data["sent"] >= 1 and (data["retried"], data["failed"]) == (0, 0)
    again = json.loads(cli.ok("send", "--json"))
    assert again == {"sent": 0, "retried": 0, "failed": 0, "unconfirmed": 0}


def test_quarantine_retry_json_gives_each_item_and_the_counts(cli, tmp_path):
    platelets_only = ORU.format(mrn="B2").split("OBX|2")[0]
    cli.ok("import", write(tmp_path, "b.hl7", platelets_only))
    [item] = json.loads(cli.ok("quarantine", "--json"))
    before = json.loads(cli.ok("quarantine", "retry", "--json"))
    assert (before["retried"], before["still_open"]) == (0, 1)
    [still] = before["items"]
    assert (still["id"], still["status"], still["resolution"]) == (item["id"], "open", None)
    assert "unknown patient" in still["reason"]
    cli.ok("patient", "add", "B2", "--name", "Bea Example", "--sex", "F")
    after = json.loads(cli.ok("quarantine", "retry", str(item["id"]), "--json"))
    assert (after["retried"], after["still_open"]) == (1, 0)
    assert after["items"][0]["status"] == "retried" and after["items"][0]["resolution"]
    assert json.loads(cli.ok("quarantine", "retry", "--json")) == {
        "retried": 0, "still_open": 0, "items": []
    }  # fmt: skip
