"""`monitor audit`: who changed what, when, before and after; append-only (SPEC §4, §7)."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from monitor.store.models import AuditEntry

AUDIT_KEYS = {"id", "at", "actor", "action", "entity", "entity_id", "before", "after"}


def audit(cli, *mrn: str) -> list[dict]:
    return json.loads(cli.ok("audit", *mrn, "--json"))


def open_flag_ids(cli) -> list[int]:
    return [f["id"] for f in json.loads(cli.ok("flags", "--json"))]


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    return "A1"


def low_platelets(cli, mrn: str = "A1", collected: str = "2024-06-10") -> None:
    cli.ok(
        "result", "add", mrn, "--analyte", "platelets", "--value", "90", "--unit", "K/uL",
        "--collected", collected,
    )  # fmt: skip


# Each nurse action of issue 3, and the audit row it must append.
ACTIONS = [
    (
        ["patient", "pregnancy", "A1", "--from", "2024-05-01", "--to", "2025-01-31"],
        {"action": "patient.pregnancy", "before": None,
         "after": {"from": "2024-05-01", "to": "2025-01-31"}},
    ),
    (
        ["slot", "waive", "A1", "--panel", "cbc", "--due", "2024-02-12", "--by", "Nurse Jo",
         "--reason", "counted in hospital"],
        {"action": "slot.waive", "actor": "Nurse Jo",
         "before": {"protocol": "alemtuzumab", "panel": "cbc", "due_on": "2024-02-12",
                    "waived": False},
         "after": {"protocol": "alemtuzumab", "panel": "cbc", "due_on": "2024-02-12",
                   "waived": True, "reason": "counted in hospital"}},
    ),
    (
        ["patient", "status", "A1", "transferred", "--on", "2025-02-01", "--reason", "moved"],
        {"action": "patient.status",
         "before": {"status": "active", "status_on": None, "reason": None},
         "after": {"status": "transferred", "status_on": "2025-02-01", "reason": "moved"}},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("command", "expected"), ACTIONS, ids=[e["action"] for _, e in ACTIONS])
def test_each_nurse_action_appends_one_audit_row_with_before_and_after(
    cli, patient, command, expected
):
    rows = audit(cli, patient)

    cli.ok(*command)

    after = audit(cli, patient)
    assert after[: len(rows)] == rows
    (row,) = after[len(rows) :]
    assert AUDIT_KEYS <= row.keys()
    assert row == row | expected
    assert row["actor"]


def test_an_acknowledgement_records_who_when_and_the_note(cli, patient):
    low_platelets(cli)
    (flag_id,) = open_flag_ids(cli)

    with freeze_time("2025-03-04 09:30:00"):
        cli.ok("flag", "ack", str(flag_id), "--by", "Nurse Jo", "--note", "repeat on Friday")

    row = audit(cli, patient)[-1]
    assert row["at"].startswith("2025-03-04T09:30:00")
    assert (row["actor"], row["action"], row["entity"], row["entity_id"]) == (
        "Nurse Jo",
        "flag.acknowledge",
        "flag",
        flag_id,
    )
    assert row["before"] == {"status": "open"}
    assert row["after"] == {"status": "acknowledged", "note": "repeat on Friday"}
    (flag,) = json.loads(cli.ok("flags", "--all", "--json"))
    assert flag["acknowledged_by"] == "Nurse Jo"
    assert flag["acknowledged_at"].startswith("2025-03-04T09:30:00")


def test_audit_rows_are_never_changed_or_removed_by_later_actions(cli, engine, patient):
    cli.ok("patient", "add", "B2", "--name", "Bob Example", "--sex", "M")
    cli.ok("course", "add", "B2", "--start", "2024-02-05", "--days", "5")
    low_platelets(cli, "A1")
    low_platelets(cli, "B2")
    steps = [
        ["patient", "pregnancy", "A1", "--from", "2024-05-01"],
        ["flag", "ack", str(open_flag_ids(cli)[0]), "--by", "Nurse Jo", "--note", "seen"],
        ["slot", "waive", "A1", "--panel", "tsh", "--due", "2024-04-12", "--by", "Nurse Jo",
         "--reason", "done at the GP"],
        ["patient", "status", "B2", "withdrawn", "--on", "2024-09-01"],
        ["patient", "status", "B2", "active", "--on", "2024-10-01"],  # the same row, changed again
        ["flag", "ack", str(open_flag_ids(cli)[-1]), "--by", "Nurse Kim"],
        ["course", "add", "A1", "--start", "2025-01-13", "--days", "3"],
    ]  # fmt: skip
    history = [audit(cli)]

    for step in steps:
        cli.ok(*step)
        history.append(audit(cli))

    for earlier, later in pairwise(history):
        assert later[: len(earlier)] == earlier
        assert len(later) == len(earlier) + 1
    assert [row["id"] for row in history[-1]] == sorted(row["id"] for row in history[-1])
    with engine.connect() as connection:
        stored = connection.execute(select(AuditEntry.id, AuditEntry.action)).all()
    assert sorted(stored) == [(row["id"], row["action"]) for row in history[-1]]


def test_refused_commands_write_no_audit_row(cli, patient):
    low_platelets(cli)
    (flag_id,) = open_flag_ids(cli)
    cli.ok("flag", "ack", str(flag_id), "--by", "Nurse Jo")
    rows = audit(cli)

    refused = [
        ["flag", "ack", str(flag_id), "--by", "Nurse Jo"],
        ["flag", "ack", "424242", "--by", "Nurse Jo"],
        ["slot", "waive", "A1", "--panel", "cbc", "--due", "2024-02-13", "--by", "Nurse Jo",
         "--reason", "x"],
        ["slot", "waive", "A1", "--panel", "cbc", "--due", "2024-02-12", "--by", "Nurse Jo",
         "--reason", " "],
        ["patient", "status", "A1", "asleep", "--on", "2024-03-01"],
        ["patient", "status", "NOPE", "withdrawn", "--on", "2024-03-01"],
        ["patient", "status", "A1", "withdrawn", "--on", "2024-13-01"],
        ["patient", "pregnancy", "A1", "--from", "2024-05-01", "--to", "2024-04-30"],
        ["patient", "pregnancy", "NOPE", "--from", "2024-05-01"],
    ]  # fmt: skip
    for command in refused:
        assert cli(*command).code == 2, command

    assert audit(cli) == rows


def test_audit_of_one_patient_shows_only_their_rows_oldest_first(cli, patient):
    cli.ok("patient", "add", "B2", "--name", "Bob Example")
    cli.ok("patient", "status", "B2", "deceased", "--on", "2024-08-01")

    mine = audit(cli, "A1")
    everyone = audit(cli)

    assert [r["action"] for r in mine] == ["patient.add", "course.add"]
    assert [r["action"] for r in everyone] == [
        "patient.add",
        "course.add",
        "patient.add",
        "patient.status",
    ]
    assert {r["id"] for r in mine} < {r["id"] for r in everyone}


def test_audit_of_an_unknown_mrn_exits_2(cli, patient):
    result = cli("audit", "NOPE", "--json")

    assert result.code == 2
    assert "NOPE" in result.err


def test_audit_prints_a_table_for_people(cli, patient, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich squeezes tables into 80 columns when piped
    cli.ok("patient", "status", "A1", "withdrawn", "--on", "2024-08-01", "--reason", "moved")

    out = cli.ok("audit", "A1")

    assert "patient.status" in out
    assert "withdrawn" in out
