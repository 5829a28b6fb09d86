"""`monitor patient list|edit`, `course correct|delete`, `result correct|void` through the real
command (issue 14 item 2): what each prints and stores, and bad input refused with exit 2, a
message naming the problem and nothing written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine

from tests.cli.test_patients import row_counts


def audit(cli, mrn: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(cli.ok("audit", mrn, "--json"))


def results(cli, mrn: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(cli.ok("results", mrn, "--json"))


def slots(cli, mrn: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    data = json.loads(cli.ok("schedule", mrn, "--json"))
    return sorted((s["panel"], s["due_on"], s["status"]) for s in data["slots"])


@pytest.fixture
def clinic(cli):  # type: ignore[no-untyped-def]
    cli.ok("patient", "add", "A1", "--name", "José Pérez", "--sex", "M", "--dob", "1980-01-02")
    cli.ok("patient", "add", "B2", "--name", "Ann Example", "--site", "north")
    cli.ok("course", "add", "A1", "--start", "2025-01-06", "--days", "5")
    return cli


def test_patient_list_searches_and_filters(clinic) -> None:  # type: ignore[no-untyped-def]
    cli = clinic
    cli.ok("patient", "status", "B2", "withdrawn", "--on", "2025-02-01")

    found = json.loads(cli.ok("patient", "list", "--search", "JOSE perez", "--json"))
    assert [p["mrn"] for p in found] == ["A1"]
    assert found[0] | {} == {
        "mrn": "A1",
        "name": "José Pérez",
        "dob": "1980-01-02",
        "sex": "M",
        "site": "main",
        "status": "active",
        "email": None,
        "phone": None,
        "channel": "email",
    }
    assert [p["mrn"] for p in json.loads(cli.ok("patient", "list", "--json"))] == ["B2", "A1"]
    by_site = json.loads(cli.ok("patient", "list", "--site", "north", "--json"))
    assert [p["mrn"] for p in by_site] == ["B2"]
    active = json.loads(cli.ok("patient", "list", "--status", "active", "--json"))
    assert [p["mrn"] for p in active] == ["A1"]
    out = cli.ok("patient", "list", "--search", "a1")
    assert "José Pérez" in out and "Ann Example" not in out and "1 patient(s)" in out


def test_patient_list_refuses_an_unknown_status(clinic) -> None:  # type: ignore[no-untyped-def]
    result = clinic("patient", "list", "--status", "asleep")
    assert result.code == 2
    assert "unknown status 'asleep'" in result.err


def test_patient_edit_changes_details_and_audits_who_and_why(clinic) -> None:  # type: ignore[no-untyped-def]
    cli = clinic
    out = cli.ok(
        "patient",
        "edit",
        "A1",
        "--phone",
        "0161 496 0000",
        "--address",
        "1 High St|Leeds",
        "--channel",
        "letter",
        "--email",
        "jose@example.org",
        "--sex",
        "F",
        "--reason",
        "registered as M by mistake",
        "--by",
        "Nurse Jo",
    )

    assert "updated patient A1: sex, email, phone, address, channel" in out
    data = json.loads(cli.ok("patient", "list", "--search", "A1", "--json"))[0]
    assert (data["phone"], data["channel"], data["sex"], data["email"]) == (
        "0161 496 0000",
        "letter",
        "F",
        "jose@example.org",
    )
    entry = next(e for e in audit(cli, "A1") if e["action"] == "patient.edit")
    assert entry["actor"] == "cli:Nurse Jo"
    assert entry["before"] == {
        "sex": "M",
        "email": None,
        "phone": None,
        "address": None,
        "channel": "email",
    }
    assert entry["after"]["address"] == "1 High St\nLeeds"
    assert entry["after"]["reason"] == "registered as M by mistake"


def test_patient_edit_still_corrects_name_and_dob(clinic) -> None:  # type: ignore[no-untyped-def]
    clinic.ok("patient", "edit", "A1", "--name", "José Pérez-Ruiz", "--dob", "1980-01-03")
    shown = json.loads(clinic.ok("patient", "show", "A1", "--json"))
    assert (shown["name"], shown["dob"]) == ("José Pérez-Ruiz", "1980-01-03")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phone", "123"], "phone number must have 7 to 20 digits"),
        (["--phone", "call me"], "phone number may hold only digits"),
        (["--email", "nope"], "--email 'nope' is not an email address"),
        (["--site", "mars"], "--site 'mars' is not a site of this clinic (main, north)"),
        (["--sex", "F"], "--reason is required to change sex"),
        (["--sex", "Q", "--reason", "x"], "--sex must be one of F, M, X"),
        (["--channel", "pigeon"], "channel 'pigeon' must be one of email, letter, sms"),
        (["--dob", "1980-13-01"], "--dob '1980-13-01' is not a date"),
        (["--dob", "2100-01-01"], "--dob 2100-01-01 is in the future"),
        (["--name", " "], "--name must not be empty"),
        ([], "give at least one of --name"),
        (["--phone", "0161 496 0000", "--by", "a\nb"], "--by must be one line"),
    ],
)
def test_patient_edit_refuses_bad_input_and_writes_nothing(  # type: ignore[no-untyped-def]
    clinic, engine: Engine, args: list[str], message: str
) -> None:
    before = row_counts(engine)

    result = clinic("patient", "edit", "A1", *args)

    assert result.code == 2, result.err
    assert message in result.err
    assert row_counts(engine) == before


def test_patient_edit_of_an_unknown_mrn_exits_2(clinic) -> None:  # type: ignore[no-untyped-def]
    result = clinic("patient", "edit", "ZZ", "--phone", "0161 496 0000")
    assert result.code == 2 and "unknown MRN 'ZZ'" in result.err


def test_course_correct_moves_the_schedule_like_a_fresh_patient(clinic) -> None:  # type: ignore[no-untyped-def]
    cli = clinic
    cli.ok("patient", "add", "F1", "--name", "Fresh Patient", "--sex", "M")
    cli.ok("course", "add", "F1", "--start", "2025-01-13", "--days", "5")

    out = cli.ok(
        "course",
        "correct",
        "A1",
        "--course",
        "1",
        "--start",
        "2025-01-13",
        "--days",
        "5",
        "--reason",
        "typed the wrong week",
    )

    assert "corrected course 1 of A1: 2025-01-13 to 2025-01-17" in out
    assert slots(cli, "A1") == slots(cli, "F1")
    cli.ok(
        "course",
        "correct",
        "A1",
        "--course",
        "1",
        "--dates",
        "2025-01-13,2025-01-14,2025-01-15,2025-01-16,2025-01-17",
        "--reason",
        "same",
    )
    entry = next(e for e in audit(cli, "A1") if e["action"] == "course.correct")
    assert entry["before"]["dates"][0] == "2025-01-06"
    assert entry["after"]["dates"][0] == "2025-01-13"
    assert entry["after"]["reason"] == "typed the wrong week"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--course", "2", "--dates", "2025-01-13", "--reason", "x"], "course 2 does not exist"),
        (["--course", "1", "--dates", "2025-01-13"], "Missing option '--reason'"),
        (["--course", "1", "--dates", "2025-01-13", "--reason", " "], "--reason must not be empty"),
        (["--course", "1", "--dates", "2025-02-30", "--reason", "x"], "--dates '2025-02-30'"),
        (["--course", "1", "--dates", "2025-01-13,2025-01-13", "--reason", "x"], "must be unique"),
        (["--course", "1", "--start", "2025-01-13", "--reason", "x"], "give --start and --days"),
        (
            [
                "--course",
                "1",
                "--start",
                "2025-01-13",
                "--days",
                "5",
                "--dates",
                "2025-01-13",
                "--reason",
                "x",
            ],
            "not both",
        ),
        (
            ["--course", "x", "--dates", "2025-01-13", "--reason", "x"],
            "Invalid value for '--course'",
        ),
    ],
)
def test_course_correct_refuses_bad_input_and_writes_nothing(  # type: ignore[no-untyped-def]
    clinic, engine: Engine, args: list[str], message: str
) -> None:
    before, schedule = row_counts(engine), slots(clinic, "A1")

    result = clinic("course", "correct", "A1", *args)

    assert result.code == 2, result.err
    assert message in result.err
    assert row_counts(engine) == before
    assert slots(clinic, "A1") == schedule


def test_course_delete_removes_the_course_and_its_emptied_treatment(clinic, engine) -> None:  # type: ignore[no-untyped-def]
    cli = clinic
    cli.ok("course", "add", "A1", "--start", "2026-01-12", "--days", "3")
    cli.ok("patient", "add", "F1", "--name", "Fresh Patient", "--sex", "M")
    cli.ok("course", "add", "F1", "--start", "2025-01-06", "--days", "5")

    out = cli.ok("course", "delete", "A1", "--course", "2", "--reason", "planned, never given")
    assert "deleted course 2 of A1" in out and "treatment is deleted" not in out
    assert slots(cli, "A1") == slots(cli, "F1")

    out = cli.ok("course", "delete", "A1", "--course", "1", "--reason", "wrong patient")
    assert "that treatment is deleted too" in out
    shown = json.loads(cli.ok("patient", "show", "A1", "--json"))
    assert shown["courses"] == [] and shown["treatments"] == []
    assert slots(cli, "A1") == []
    deleted = [e for e in audit(cli, "A1") if e["action"] == "course.delete"]
    assert [e["after"]["reason"] for e in deleted] == ["planned, never given", "wrong patient"]
    before = row_counts(engine)
    result = cli("course", "delete", "A1", "--course", "1", "--reason", "again")
    assert result.code == 2 and "A1 has no course under alemtuzumab" in result.err
    result = cli("course", "delete", "F1", "--course", "1")
    assert result.code == 2 and "--reason" in result.err
    assert row_counts(engine) == before


def test_results_show_their_ids_and_a_correction_and_a_void(clinic, engine) -> None:  # type: ignore[no-untyped-def]
    cli = clinic
    cli.ok(
        "result",
        "add",
        "A1",
        "--analyte",
        "platelets",
        "--value",
        "150",
        "--unit",
        "10^9/L",
        "--collected",
        "2025-02-10",
    )
    [row] = results(cli, "A1")
    assert str(row["id"]) in cli.ok("results", "A1")

    out = cli.ok(
        "result",
        "correct",
        str(row["id"]),
        "--value",
        "50",
        "--unit",
        "10^9/L",
        "--reason",
        "transposed digits",
        "--by",
        "Nurse Jo",
    )

    assert f"result {row['id']} replaced by result" in out
    assert "[urgent]" in out  # the rules ran on the corrected value
    current, old = results(cli, "A1")
    assert (current["value"], current["status"]) == (50.0, "corrected")
    assert old["status"] == "replaced"
    flags = json.loads(cli.ok("flags", "--json"))
    assert [f["status"] for f in flags if f["mrn"] == "A1"] == ["open"]

    out = cli.ok("result", "void", str(current["id"]), "--reason", "another patient's sample")
    assert "marked entered-in-error" in out and "superseded flag(s)" in out
    assert results(cli, "A1")[0]["status"] == "entered-in-error"
    actions = [e["action"] for e in audit(cli, "A1")]
    assert "result.correct" in actions and "result.entered_in_error" in actions
    entry = next(e for e in audit(cli, "A1") if e["action"] == "result.correct")
    assert entry["actor"] == "cli:Nurse Jo" and entry["after"]["reason"] == "transposed digits"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["correct", "{id}", "--value", "50", "--unit", "furlongs", "--reason", "x"], "furlongs"),
        (["correct", "{id}", "--value", "many", "--unit", "10^9/L", "--reason", "x"], "many"),
        (["correct", "{id}", "--value", "50", "--unit", "10^9/L"], "Missing option '--reason'"),
        (["correct", "{id}", "--value", "50", "--reason", ""], "--reason must not be empty"),
        (
            ["correct", "999", "--value", "50", "--unit", "10^9/L", "--reason", "x"],
            "unknown result id 999",
        ),
        (["void", "999", "--reason", "x"], "unknown result id 999"),
        (["void", "{id}", "--reason", " "], "--reason must not be empty"),
        (["void", "abc", "--reason", "x"], "Invalid value for 'result_id'"),
    ],
)
def test_result_edits_refuse_bad_input_and_write_nothing(  # type: ignore[no-untyped-def]
    clinic, engine: Engine, args: list[str], message: str
) -> None:
    cli = clinic
    cli.ok(
        "result",
        "add",
        "A1",
        "--analyte",
        "platelets",
        "--value",
        "150",
        "--unit",
        "10^9/L",
        "--collected",
        "2025-02-10",
    )
    result_id = str(results(cli, "A1")[0]["id"])
    before = row_counts(engine)

    result = cli("result", *[a.replace("{id}", result_id) for a in args])

    assert result.code == 2, result.err
    assert message in result.err
    assert row_counts(engine) == before
    assert results(cli, "A1")[0]["status"] == "final"


def test_a_voided_result_cannot_be_voided_or_corrected_again(clinic, engine) -> None:  # type: ignore[no-untyped-def]
    cli = clinic
    cli.ok(
        "result",
        "add",
        "A1",
        "--analyte",
        "creatinine",
        "--value",
        "70",
        "--unit",
        "umol/L",
        "--collected",
        "2025-02-10",
    )
    result_id = str(results(cli, "A1")[0]["id"])
    cli.ok("result", "void", result_id, "--reason", "wrong tube")
    before = row_counts(engine)

    for args in (
        ["void", result_id, "--reason", "x"],
        ["correct", result_id, "--value", "1", "--unit", "mg/dL", "--reason", "x"],
    ):
        result = cli("result", *args)
        assert result.code == 2 and "is entered-in-error" in result.err

    assert row_counts(engine) == before
