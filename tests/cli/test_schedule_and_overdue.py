"""`monitor schedule` and `monitor overdue` through the real command (SPEC §3.2, §3.3, §7, §9)."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time

from monitor.config import Config
from monitor.services.people import courses, patients
from monitor.services.results import recording as results
from monitor.services.results.recording import ResultIn
from monitor.store.db import unit_of_work

PANELS = ("cbc", "creatinine", "urinalysis", "tsh", "lft", "skin")
MONTHLY = ("cbc", "creatinine", "urinalysis", "lft")
SLOT_KEYS = {"panel", "due_on", "window_start", "window_end", "course", "kind", "status"}
ROW_KEYS = {"mrn", "panel", "due_on", "days_overdue", "missed"}


def schedule(cli, mrn: str, *args: str) -> dict:
    return json.loads(cli.ok("schedule", mrn, "--json", *args))


def overdue(cli, *args: str) -> list[dict]:
    return json.loads(cli.ok("overdue", "--json", *args))


def slot(data: dict, panel: str, due_on: str) -> dict:
    (found,) = [s for s in data["slots"] if s["panel"] == panel and s["due_on"] == due_on]
    return found


# Setting up goes through the services in one transaction (the `patient`, `course` and `result`
# commands have their own tests); what is under test here goes through the command.

CONFIG = Config()
NOW = datetime(2026, 1, 1, tzinfo=UTC)
VALUES = {
    "platelets": ("210", "10^9/L"),
    "neutrophils": ("3.0", "10^9/L"),
    "hemoglobin": ("135", "g/L"),
    "creatinine": ("70", "umol/L"),
    "tsh": ("2.0", "mIU/L"),
}


def add_patient(engine, mrn: str, start: str, days: int = 5, site: str = "main") -> None:
    first = date.fromisoformat(start)
    with unit_of_work(engine, CONFIG.catalogue) as session:
        patients.add_patient(
            session,
            mrn=mrn,
            name=f"Patient {mrn}",
            email=None,
            born_on=None,
            sex=None,
            site=site,
            actor="test",
            now=NOW,
        )
        courses.add_course(
            session,
            mrn=mrn,
            infused_on=[first + timedelta(days=n) for n in range(days)],
            actor="test",
            now=NOW,
        )


def add_results(engine, mrn: str, collected: str, *analytes: str) -> None:
    on = date.fromisoformat(collected)
    batch = [ResultIn(mrn, a, VALUES[a][0], VALUES[a][1], on) for a in analytes]
    with unit_of_work(engine, CONFIG.catalogue) as session:
        results.add_results(
            session,
            batch,
            today=on,
            now=NOW,
            rules=CONFIG.rule_settings,
        )


# schedule


def test_schedule_json_has_the_spec_shape(cli, engine):
    add_patient(engine, "A1", "2024-01-08")

    data = schedule(cli, "A1", "--as-of", "2024-02-20")

    assert data["mrn"] == "A1"
    assert data["monitoring_end"] == "2028-01-12"
    assert data["slots"]
    for item in data["slots"]:
        assert SLOT_KEYS <= item.keys()
        assert item["kind"] in ("baseline", "recurring")
        assert item["window_start"] <= item["due_on"] <= item["window_end"]
    assert [s["due_on"] for s in data["slots"]] == sorted(s["due_on"] for s in data["slots"])
    baseline = [s for s in data["slots"] if s["kind"] == "baseline"]
    assert [s["panel"] for s in baseline] == list(PANELS)
    assert {(s["due_on"], s["window_start"], s["window_end"], s["course"]) for s in baseline} == {
        ("2024-01-08", "2023-12-09", "2024-01-08", 1)
    }
    cbc = [s for s in data["slots"] if s["panel"] == "cbc" and s["kind"] == "recurring"]
    assert len(cbc) == 48
    assert cbc[0]["due_on"] == "2024-02-12"
    assert (cbc[0]["window_start"], cbc[0]["window_end"]) == ("2024-02-05", "2024-02-19")
    assert cbc[-1]["due_on"] == "2028-01-12"


def test_schedule_reports_each_status_as_of_a_date(cli, engine):
    add_patient(engine, "A1", "2024-01-08")
    add_results(engine, "A1", "2024-02-12", "platelets", "neutrophils", "hemoglobin")  # on time
    add_results(engine, "A1", "2024-02-22", "creatinine")  # after the window: late
    add_results(engine, "A1", "2024-01-02", "tsh")  # baseline window

    data = schedule(cli, "A1", "--as-of", "2024-02-25")

    assert slot(data, "cbc", "2024-01-08")["status"] == "missed"
    assert slot(data, "cbc", "2024-02-12")["status"] == "done"
    assert slot(data, "creatinine", "2024-02-12")["status"] == "late"
    assert slot(data, "urinalysis", "2024-02-12")["status"] == "overdue"
    assert slot(data, "tsh", "2024-01-08")["status"] == "done"
    assert slot(data, "skin", "2024-01-08")["status"] == "overdue"
    assert slot(data, "cbc", "2024-03-12")["status"] == "upcoming"
    assert slot(data, "tsh", "2024-04-12")["status"] == "upcoming"


def test_a_due_slot_lists_the_analytes_still_missing(cli, engine):
    add_patient(engine, "A1", "2024-01-08")
    add_results(engine, "A1", "2024-02-12", "platelets")

    data = schedule(cli, "A1", "--as-of", "2024-02-14")

    cbc = slot(data, "cbc", "2024-02-12")
    assert cbc["status"] == "due"
    assert cbc["missing"] == ["neutrophils", "hemoglobin"]
    assert slot(data, "creatinine", "2024-02-12")["missing"] == ["creatinine"]
    assert "missing" not in slot(data, "cbc", "2024-03-12")


def test_a_result_counts_only_from_the_as_of_date(cli, engine):
    add_patient(engine, "A1", "2024-01-08")
    add_results(engine, "A1", "2024-02-15", "creatinine")

    assert (
        slot(schedule(cli, "A1", "--as-of", "2024-02-14"), "creatinine", "2024-02-12")["status"]
        == "due"
    )
    assert (
        slot(schedule(cli, "A1", "--as-of", "2024-02-15"), "creatinine", "2024-02-12")["status"]
        == "done"
    )


def test_schedule_without_a_course_is_empty_with_a_null_monitoring_end(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")

    assert schedule(cli, "A1", "--as-of", "2024-01-01") == {
        "mrn": "A1",
        "monitoring_end": None,
        "slots": [],
    }


def test_schedule_prints_a_table(cli, engine, tmp_path):
    (tmp_path / "config.toml").write_text("[protocol]\nmonitoring_months = 3\n")  # a short table
    add_patient(engine, "A1", "2024-01-08")
    cli.ok("db", "rebuild")  # stored from the default protocol; the config's is shorter

    out = cli.ok("schedule", "A1", "--as-of", "2024-02-20")

    assert "2024-02-12" in out
    assert "overdue" in out
    assert "monitoring ends 2024-04-12" in out


def test_the_default_as_of_is_today_in_the_clinic_time_zone(cli, engine, tmp_path):
    add_patient(engine, "A1", "2026-01-18")  # monthly slots due 22 February, window to 1 March

    with freeze_time("2026-03-01 23:30:00"):  # UTC: 1 March in London, 2 March in Auckland
        london = schedule(cli, "A1")
        london_overdue = overdue(cli)
        (tmp_path / "config.toml").write_text('[clinic]\ntimezone = "Pacific/Auckland"\n')
        auckland = schedule(cli, "A1")
        auckland_overdue = overdue(cli)

    assert slot(london, "cbc", "2026-02-22")["status"] == "due"
    assert slot(auckland, "cbc", "2026-02-22")["status"] == "overdue"
    assert [(r["panel"], r["due_on"]) for r in london_overdue] == [
        ("tsh", "2026-01-18"),
        ("skin", "2026-01-18"),
    ]
    assert [(r["panel"], r["due_on"], r["days_overdue"]) for r in auckland_overdue] == [
        ("tsh", "2026-01-18", 43),
        ("skin", "2026-01-18", 43),
        *[(panel, "2026-02-22", 8) for panel in MONTHLY],
    ]


def test_a_future_as_of_is_allowed(cli, engine):
    add_patient(engine, "A1", "2024-01-08")

    data = schedule(cli, "A1", "--as-of", "2099-01-01")

    assert slot(data, "cbc", "2028-01-12")["status"] == "overdue"
    assert overdue(cli, "--as-of", "2099-01-01")


# overdue


@pytest.fixture
def clinic(cli, engine):
    """Three patients, no results; C3 started a month earlier; B2 is at another site."""
    add_patient(engine, "A1", "2024-01-08")
    add_patient(engine, "B2", "2024-01-08", site="north")
    add_patient(engine, "C3", "2023-12-04")
    return cli


def test_overdue_json_has_the_spec_keys_and_sorts_by_days_then_mrn_then_panel(clinic):
    rows = overdue(clinic, "--as-of", "2024-02-20")

    for row in rows:
        assert ROW_KEYS <= row.keys()
    assert [(r["mrn"], r["panel"], r["due_on"], r["days_overdue"], r["missed"]) for r in rows] == [
        ("C3", "tsh", "2023-12-04", 78, 0),
        ("C3", "skin", "2023-12-04", 78, 0),
        ("A1", "tsh", "2024-01-08", 43, 0),
        ("A1", "skin", "2024-01-08", 43, 0),
        ("B2", "tsh", "2024-01-08", 43, 0),
        ("B2", "skin", "2024-01-08", 43, 0),
        *[("C3", panel, "2024-02-08", 12, 2) for panel in MONTHLY],
        *[("A1", panel, "2024-02-12", 8, 1) for panel in MONTHLY],
        *[("B2", panel, "2024-02-12", 8, 1) for panel in MONTHLY],
    ]


def test_a_done_slot_leaves_the_overdue_list(clinic, engine):
    add_results(engine, "A1", "2024-02-19", "platelets", "neutrophils", "hemoglobin")

    rows = overdue(clinic, "--as-of", "2024-02-20")

    assert ("A1", "cbc") not in {(r["mrn"], r["panel"]) for r in rows}
    assert ("A1", "creatinine") in {(r["mrn"], r["panel"]) for r in rows}


def test_a_late_result_takes_the_slot_off_the_list_from_its_collection_date(clinic, engine):
    add_results(engine, "A1", "2024-02-22", "creatinine")

    def listed(on: str) -> bool:
        rows = overdue(clinic, "--as-of", on, "--site", "main")
        return any(r["mrn"] == "A1" and r["panel"] == "creatinine" for r in rows)

    assert listed("2024-02-21")
    assert not listed("2024-02-22")


def test_site_filters_the_overdue_list(clinic):
    north = overdue(clinic, "--as-of", "2024-02-20", "--site", "north")
    main = overdue(clinic, "--as-of", "2024-02-20", "--site", "main")

    assert {r["mrn"] for r in north} == {"B2"}
    assert {r["mrn"] for r in main} == {"A1", "C3"}
    assert len(north) + len(main) == len(overdue(clinic, "--as-of", "2024-02-20"))
    assert overdue(clinic, "--as-of", "2024-02-20", "--site", "nowhere") == []


@pytest.mark.parametrize("status", ["withdrawn", "deceased", "transferred"])
def test_a_stopped_patient_leaves_the_list_from_the_stop_date(clinic, status):
    clinic.ok("patient", "status", "A1", status, "--on", "2024-02-15")

    def mrns(on: str) -> set[str]:
        return {r["mrn"] for r in overdue(clinic, "--as-of", on)}

    assert "A1" in mrns("2024-02-14")
    assert "A1" not in mrns("2024-02-15")
    assert "A1" not in mrns("2024-02-20")
    assert {"B2", "C3"} <= mrns("2024-02-20")


def test_a_completed_patient_keeps_the_final_overdue_slots(cli, engine):
    add_patient(engine, "A1", "2019-01-07")  # monitoring ends 2023-01-11

    with freeze_time("2024-06-01 12:00:00"):
        assert json.loads(cli.ok("patient", "show", "A1", "--json"))["status"] == "completed"
        rows = overdue(cli)

    assert [(r["panel"], r["due_on"], r["days_overdue"]) for r in rows] == [
        (panel, "2023-01-11", 507) for panel in PANELS
    ]
    missed = {r["panel"]: r["missed"] for r in rows}
    # every earlier slot of the panel (baseline + recurring) was missed
    assert missed == {
        "cbc": 48,
        "creatinine": 48,
        "urinalysis": 48,
        "lft": 48,
        "tsh": 16,
        "skin": 4,
    }


def test_overdue_prints_a_table_or_says_nothing_is_overdue(clinic):
    assert "nothing overdue" in clinic.ok("overdue", "--as-of", "2023-01-01")
    out = clinic.ok("overdue", "--as-of", "2024-02-20")
    assert "C3" in out
    assert "18 overdue" in out


# bad input


def test_a_bad_as_of_date_exits_2(cli, subtests):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")

    for command in (
        ["schedule", "A1", "--as-of", "2024-13-01"],
        ["schedule", "A1", "--as-of", "24-01-01"],
        ["overdue", "--as-of", "2024-02-30"],
        ["overdue", "--as-of", "today"],
    ):
        with subtests.test(command=command):
            result = cli(*command)

            assert result.code == 2
            assert "--as-of" in result.err
            assert result.out == ""


def test_schedule_of_an_unknown_mrn_exits_2(cli):
    result = cli("schedule", "NOPE", "--json")

    assert result.code == 2
    assert "unknown MRN 'NOPE'" in result.err
    assert result.out == ""
