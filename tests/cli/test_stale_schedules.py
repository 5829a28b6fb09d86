"""A `[protocol]` change without a rebuild: commands that read stored slots refuse (exit 1) and
name `monitor db rebuild`; commands that write a patient's slots write them from the current
protocol; `monitor db rebuild` makes the database current again (issue 10, item 2)."""

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update

from monitor.config import Config
from monitor.services.people import courses, patients
from monitor.store.db import unit_of_work
from monitor.store.models import DailyRun, Treatment

NOW = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT = Config().catalogue
# The default TSH panel is every 3 months; the changed configuration makes it every 2.
TSH_EVERY_TWO_MONTHS = "[protocol.panels.tsh]\nevery_months = 2\n"
REBUILD = "monitor db rebuild"


def add_patient(engine, mrn: str, start: date | None = None) -> None:
    """A patient (with a 5-day course from `start`) stored under the default protocol."""
    with unit_of_work(engine, DEFAULT) as session:
        patients.add_patient(
            session,
            mrn=mrn,
            name=f"Patient {mrn}",
            email=f"{mrn.lower()}@example.org",
            born_on=None,
            sex=None,
            site="main",
            actor="test",
            now=NOW,
        )
        if start is not None:
            courses.add_course(
                session,
                mrn=mrn,
                infused_on=[start + timedelta(days=n) for n in range(5)],
                actor="test",
                now=NOW,
            )


def tsh_due_dates(cli, mrn: str) -> list[str]:
    data = json.loads(cli.ok("schedule", mrn, "--json", "--as-of", "2024-01-20"))
    return [s["due_on"] for s in data["slots"] if s["panel"] == "tsh" and s["kind"] == "recurring"]


def assert_refused(result) -> None:
    assert result.code == 1, result
    assert REBUILD in result.err
    assert "Traceback" not in result.err
    assert result.out == ""


def test_a_changed_panel_interval_makes_readers_refuse_until_a_rebuild(cli, engine, tmp_path):
    add_patient(engine, "A1", date(2024, 1, 8))  # last infusion 12 January
    add_patient(engine, "B1", date(2024, 1, 8))
    assert tsh_due_dates(cli, "A1")[:2] == ["2024-04-12", "2024-07-12"]

    (tmp_path / "config.toml").write_text(TSH_EVERY_TWO_MONTHS)

    assert_refused(cli("schedule", "A1"))
    assert_refused(cli("overdue"))
    assert_refused(cli("overdue", "--json", "--as-of", "2024-06-01"))
    assert_refused(cli("preview", "patient-tests-due", "--mrn", "A1", "--out", "p.html"))
    assert_refused(cli("daily", "--as-of", "2024-04-10"))
    with unit_of_work(engine) as session:  # the refused daily cycle recorded nothing
        assert session.scalar(select(func.count()).select_from(DailyRun)) == 0
    status = cli("status", "--json")
    assert status.code == 1
    report = json.loads(status.out)
    assert report["schedules"] == {"stale_patients": 2}
    assert any(REBUILD in problem for problem in report["problems"])
    # What does not read stored slots still works.
    assert json.loads(cli.ok("patient", "show", "A1", "--json"))["mrn"] == "A1"
    cli.ok("flags")

    cli.ok("db", "rebuild")

    assert tsh_due_dates(cli, "A1")[:3] == ["2024-03-12", "2024-05-12", "2024-07-12"]
    assert tsh_due_dates(cli, "B1")[:3] == ["2024-03-12", "2024-05-12", "2024-07-12"]
    cli.ok("overdue")
    cli.ok("daily", "--as-of", "2024-04-10")
    status = json.loads(cli("status", "--json").out)
    assert status["schedules"] == {"stale_patients": 0}
    assert not any(REBUILD in problem for problem in status["problems"])


def test_writers_in_a_stale_database_write_the_current_protocol(cli, engine, tmp_path):
    """A change to one patient rebuilds that patient from the current protocol; the database
    stays stale (readers keep refusing) until every patient is rebuilt."""
    add_patient(engine, "A1", date(2024, 1, 8))
    add_patient(engine, "B1")
    (tmp_path / "config.toml").write_text(TSH_EVERY_TWO_MONTHS)

    cli.ok("course", "add", "B1", "--start", "2024-01-08", "--days", "5")
    # A waiver is looked up in the current schedule: 12 March is a TSH date only every 2 months.
    cli.ok(
        "slot", "waive", "A1", "--panel", "tsh", "--due", "2024-03-12",
        "--by", "Nurse Jo", "--reason", "done elsewhere",
    )  # fmt: skip
    cli.ok(
        "result", "add", "A1", "--analyte", "tsh", "--value", "2.0", "--unit", "mIU/L",
        "--collected", "2024-01-10",
    )  # fmt: skip
    add_patient(engine, "C1", date(2024, 1, 8))  # written by a process with the old protocol

    assert_refused(cli("schedule", "A1"))
    assert "of 1 patient(s)" in cli("schedule", "A1").err  # only C1 is left stale

    assert cli.ok("db", "rebuild").strip() == "rebuilt the schedules of 3 patient(s)"

    schedule = json.loads(cli.ok("schedule", "A1", "--json", "--as-of", "2024-03-20"))
    tsh = {s["due_on"]: s["status"] for s in schedule["slots"] if s["panel"] == "tsh"}
    assert tsh["2024-03-12"] == "waived"
    assert "2024-04-12" not in tsh
    assert tsh_due_dates(cli, "B1")[:2] == ["2024-03-12", "2024-05-12"]


def test_slots_stored_before_fingerprints_are_stale_and_patients_without_slots_are_not(cli, engine):
    """After the migration to revision 0007 no patient's fingerprint is known (NULL): those with
    stored slots must be rebuilt; an empty database and patients with no course are fine."""
    cli.ok("overdue")  # an empty database
    add_patient(engine, "N1")  # no course, no slots
    cli.ok("overdue")
    add_patient(engine, "A1", date(2024, 1, 8))
    with unit_of_work(engine) as session:
        session.execute(update(Treatment).values(schedule_fingerprint=None))

    assert_refused(cli("schedule", "A1"))
    assert "of 1 patient(s)" in cli("overdue").err
    assert REBUILD in cli.ok("db", "upgrade")  # already at head; it says what is left to do

    cli.ok("db", "rebuild")

    cli.ok("schedule", "A1")
    assert REBUILD not in cli.ok("db", "upgrade")


def test_a_rebuild_with_worker_processes_plans_the_new_protocol(cli, engine, tmp_path):
    """`--workers 2` plans in two spawned processes (issue 15): the same new schedule."""
    add_patient(engine, "A1", date(2024, 1, 8))
    add_patient(engine, "B1", date(2024, 2, 5))
    (tmp_path / "config.toml").write_text(TSH_EVERY_TWO_MONTHS)

    assert cli.ok("db", "rebuild", "--workers", "2").strip() == (
        "rebuilt the schedules of 2 patient(s)"
    )

    assert tsh_due_dates(cli, "A1")[:2] == ["2024-03-12", "2024-05-12"]
    assert tsh_due_dates(cli, "B1")[:2] == ["2024-04-09", "2024-06-09"]
    assert json.loads(cli("status", "--json").out)["schedules"] == {"stale_patients": 0}


def test_a_negative_worker_count_is_refused(cli, engine):
    result = cli("db", "rebuild", "--workers", "-1")
    assert result.code == 2
    assert "--workers" in result.err
