"""`monitor patient add|status|show` through the real command (SPEC §2, §7, §9)."""

import json

from freezegun import freeze_time
from sqlalchemy import Engine, func, select

from monitor.store.models import Base


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def show(cli, mrn: str) -> dict:
    return json.loads(cli.ok("patient", "show", mrn, "--json"))


def test_show_json_has_the_spec_keys_and_null_monitoring_end_without_a_course(cli):
    cli.ok(
        "patient",
        "add",
        "A1",
        "--name",
        "Ann Example",
        "--email",
        "ann@example.org",
        "--dob",
        "1980-05-04",
        "--sex",
        "F",
    )

    data = show(cli, "A1")

    assert {"mrn", "name", "email", "status", "courses", "monitoring_end"} <= data.keys()
    assert data["mrn"] == "A1"
    assert data["name"] == "Ann Example"
    assert data["email"] == "ann@example.org"
    assert data["status"] == "active"
    assert data["courses"] == []
    assert data["monitoring_end"] is None


def test_show_json_lists_courses_with_their_dates_and_the_monitoring_end(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    cli.ok("course", "add", "A1", "--start", "2025-01-13", "--days", "3")

    data = show(cli, "A1")

    assert data["email"] is None
    assert data["courses"] == [
        {
            "number": 1,
            "dates": ["2024-01-08", "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-12"],
        },
        {"number": 2, "dates": ["2025-01-13", "2025-01-14", "2025-01-15"]},
    ]
    assert data["monitoring_end"] == "2029-01-15"


def test_show_prints_a_readable_record(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")

    out = cli.ok("patient", "show", "A1")

    assert "A1" in out
    assert "Ann Example" in out
    assert "2028-01-12" in out


def test_add_trims_the_mrn_and_defaults_the_site_to_main(cli):
    out = cli.ok("patient", "add", " A1 ", "--name", "Ann Example")

    assert "A1" in out
    assert show(cli, "A1")["site"] == "main"


def test_status_is_active_on_the_monitoring_end_and_completed_the_day_after(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2020-01-06", "--days", "5")
    assert show(cli, "A1")["monitoring_end"] == "2024-01-10"

    with freeze_time("2024-01-10 12:00:00"):
        assert show(cli, "A1")["status"] == "active"
    with freeze_time("2024-01-11 12:00:00"):
        assert show(cli, "A1")["status"] == "completed"


def test_completed_uses_today_in_the_clinic_time_zone(cli, tmp_path):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2020-01-06", "--days", "5")

    with freeze_time("2024-01-10 23:30:00"):  # UTC; already 11 January in Auckland
        assert show(cli, "A1")["status"] == "active"
        (tmp_path / "config.toml").write_text('[clinic]\ntimezone = "Pacific/Auckland"\n')
        assert show(cli, "A1")["status"] == "completed"


def test_a_stopped_patient_keeps_the_stopped_status_after_monitoring_ends(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2020-01-06", "--days", "5")
    cli.ok("patient", "status", "A1", "withdrawn", "--on", "2021-03-01", "--reason", "moved")

    with freeze_time("2025-01-01 12:00:00"):
        assert show(cli, "A1")["status"] == "withdrawn"


def test_status_sets_each_known_status(cli, subtests):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")

    for status in ("withdrawn", "deceased", "transferred", "active"):
        with subtests.test(status=status):
            cli.ok("patient", "status", "A1", status, "--on", "2024-03-01")

            assert show(cli, "A1")["status"] == status


def test_status_change_cancels_slots_due_on_or_after_the_stop(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")

    cli.ok("patient", "status", "A1", "withdrawn", "--on", "2024-03-12")

    slots = json.loads(cli.ok("schedule", "A1", "--as-of", "2024-03-01", "--json"))["slots"]
    assert all(s["status"] == "cancelled" for s in slots if s["due_on"] >= "2024-03-12")
    assert all(s["status"] != "cancelled" for s in slots if s["due_on"] < "2024-03-12")


# Bad input: exit 2, a message naming the problem, nothing written.


def test_duplicate_mrn_is_refused_and_the_first_patient_is_kept(cli, engine):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    before = row_counts(engine)

    result = cli("patient", "add", "A1", "--name", "Someone Else")

    assert result.code == 2
    assert "A1" in result.err
    assert "already exists" in result.err
    assert row_counts(engine) == before
    assert show(cli, "A1")["name"] == "Ann Example"


BAD_FIELDS = [
    (["--dob", "1980-13-01"], "--dob"),
    (["--dob", "80-01-01"], "--dob"),
    (["--dob", "2999-01-01"], "--dob"),
    (["--sex", "Q"], "--sex"),
    (["--email", "not-an-address"], "--email"),
    (["--name", " "], "--name"),
]


def test_add_refuses_each_bad_field_and_writes_nothing(cli, engine, subtests):
    before = row_counts(engine)

    for args, named in BAD_FIELDS:
        with subtests.test(args=args):
            result = cli("patient", "add", "A1", "--name", "Ann Example", *args)

            assert result.code == 2
            assert named in result.err
            assert row_counts(engine) == before


def test_unknown_mrn_exits_2_naming_the_mrn(cli, engine, subtests):
    before = row_counts(engine)

    for command in (
        ["patient", "show", "NOPE"],
        ["patient", "show", "NOPE", "--json"],
        ["patient", "status", "NOPE", "withdrawn", "--on", "2024-01-01"],
    ):
        with subtests.test(command=command):
            result = cli(*command)

            assert result.code == 2
            assert "unknown MRN 'NOPE'" in result.err
            assert row_counts(engine) == before


def test_unknown_status_is_refused_and_writes_nothing(cli, engine):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    before, record = row_counts(engine), show(cli, "A1")

    result = cli("patient", "status", "A1", "retired", "--on", "2024-03-01")

    assert result.code == 2
    assert "unknown status" in result.err
    assert "retired" in result.err
    assert row_counts(engine) == before
    assert show(cli, "A1") == record


def test_status_refuses_a_bad_date_and_writes_nothing(cli, engine, subtests):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    before = row_counts(engine)

    for on in ("2024-02-30", "01-03-2024", "yesterday"):
        with subtests.test(on=on):
            result = cli("patient", "status", "A1", "withdrawn", "--on", on)

            assert result.code == 2
            assert "--on" in result.err
            assert row_counts(engine) == before

    assert show(cli, "A1")["status"] == "active"
