"""`monitor contact add/list` and the contact log in `monitor overdue` (issue 14 item 3)."""

from __future__ import annotations

import json

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Contact, Patient
from tests.cli.test_schedule_and_overdue import add_patient

TODAY = "2024-02-20 12:00:00"  # UTC noon: 20 February in London too


@pytest.fixture
def clinic(cli, engine):
    """A1 and B2 started on 2024-01-08: on 2024-02-20 both are overdue (43 and 8 days)."""
    add_patient(engine, "A1", "2024-01-08")
    add_patient(engine, "B2", "2024-01-08", site="north")
    with unit_of_work(engine) as session:
        patient = session.scalars(select(Patient).where(Patient.mrn == "A1")).one()
        patient.phone = "07700 900123"
    return cli


def counts(engine) -> tuple[int, int]:
    with unit_of_work(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Contact)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def overdue(cli, *args: str) -> list[dict]:
    return json.loads(cli.ok("overdue", "--json", *args))


@freeze_time(TODAY)
def test_a_contact_is_recorded_audited_and_listed_newest_first(clinic, engine):
    _, audits = counts(engine)
    out = clinic.ok("contact", "add", "A1", "--outcome", "no-answer", "--by", "Nina")
    assert "no-answer" in out
    with freeze_time("2024-02-20 15:00:00"):
        clinic.ok(
            "contact", "add", "A1", "--outcome", "booked", "--by", "Nina",
            "--booked-on", "2024-02-22", "--note", "Thursday 9:00, [bold]GP[/bold]",
        )  # fmt: skip

    listed = json.loads(clinic.ok("contact", "list", "A1", "--json"))

    assert [(c["outcome"], c["booked_on"]) for c in listed] == [
        ("booked", "2024-02-22"),
        ("no-answer", None),
    ]
    assert listed[0]["contact_by"] == "Nina"
    assert listed[0]["note"] == "Thursday 9:00, [bold]GP[/bold]"
    assert counts(engine) == (2, audits + 2)
    with unit_of_work(engine) as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        assert (entry.action, entry.actor) == ("contact.add", "Nina")
        assert entry.after == {
            "outcome": "booked",
            "contact_by": "Nina",
            "booked_on": "2024-02-22",
            "note": "Thursday 9:00, [bold]GP[/bold]",
        }
    table = clinic.ok("contact", "list", "A1")
    assert "[bold]GP[/bold]" in table  # printed as typed, not read as markup
    assert "2 contact(s)" in table
    assert "no contacts recorded" in clinic.ok("contact", "list", "B2")


BAD = {
    "an unknown outcome": (["--outcome", "called", "--by", "Nina"], "--outcome 'called'"),
    "booked without a date": (["--outcome", "booked", "--by", "Nina"], "--booked-on"),
    "booked for a past date": (
        ["--outcome", "booked", "--by", "Nina", "--booked-on", "2024-02-19"],
        "in the past",
    ),
    "a booked date on another outcome": (
        ["--outcome", "reached", "--by", "Nina", "--booked-on", "2024-02-22"],
        "only for the outcome booked",
    ),
    "a date that is not one": (
        ["--outcome", "booked", "--by", "Nina", "--booked-on", "22/02/2024"],
        "--booked-on '22/02/2024' is not a date",
    ),
    "a note too long": (
        ["--outcome", "reached", "--by", "Nina", "--note", "x" * 501],
        "--note must have at most 500 characters",
    ),
    "a note with a control character": (
        ["--outcome", "reached", "--by", "Nina", "--note", "a\x1b[2Jb"],
        "--note must not contain control characters",
    ),
    "an empty --by": (["--outcome", "reached", "--by", "  "], "--by must not be empty"),
    "no --by": (["--outcome", "reached"], "--by"),
}


@freeze_time(TODAY)
@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_and_writes_nothing(clinic, engine, case):
    args, words = BAD[case]
    before = counts(engine)

    result = clinic("contact", "add", "A1", *args)

    assert result.code == 2, result
    assert words in result.err
    assert counts(engine) == before


@freeze_time(TODAY)
def test_an_unknown_mrn_exits_2_for_add_and_list(clinic, engine):
    before = counts(engine)
    added = clinic("contact", "add", "ZZ9", "--outcome", "reached", "--by", "Nina")
    listed = clinic("contact", "list", "ZZ9")
    assert (added.code, listed.code) == (2, 2)
    assert "unknown MRN 'ZZ9'" in added.err
    assert counts(engine) == before


@freeze_time(TODAY)
def test_overdue_json_carries_the_phone_and_the_last_contact(clinic):
    clinic.ok("contact", "add", "A1", "--outcome", "left-message", "--by", "Nina")

    rows = overdue(clinic)

    a1 = [r for r in rows if r["mrn"] == "A1"]
    b2 = [r for r in rows if r["mrn"] == "B2"]
    assert a1 and b2
    assert {r["phone"] for r in a1} == {"07700 900123"}
    assert {r["last_contact"]["outcome"] for r in a1} == {"left-message"}
    assert all(r["booked_on"] is None for r in rows)
    assert all(r["phone"] is None and r["last_contact"] is None for r in b2)
    table = clinic.ok("overdue")
    assert "07700 900123" in table and "left-message" in table


@freeze_time(TODAY)
def test_a_booked_patient_is_hidden_through_the_booked_date_then_back(clinic):
    clinic.ok(
        "contact", "add", "A1", "--outcome", "booked", "--by", "Nina", "--booked-on", "2024-02-22"
    )

    def mrns(*args: str) -> set[str]:
        return {r["mrn"] for r in overdue(clinic, *args)}

    assert mrns() == {"B2"}
    assert mrns("--as-of", "2024-02-22") == {"B2"}
    assert mrns("--as-of", "2024-02-23") == {"A1", "B2"}  # the day after the booked date
    included = [r for r in overdue(clinic, "--include-booked") if r["mrn"] == "A1"]
    assert included and {r["booked_on"] for r in included} == {"2024-02-22"}
    table = clinic.ok("overdue")
    assert "1 patient(s) booked for a test, hidden" in table
    assert "A1" not in table.split("\n1 patient")[0]

    # A later contact that is not a booking is the last contact now: A1 is back.
    with freeze_time("2024-02-20 16:00:00"):
        clinic.ok("contact", "add", "A1", "--outcome", "reached", "--by", "Nina")
    assert mrns() == {"A1", "B2"}
