"""`monitor course add` through the real command (SPEC §3.1, §9)."""

import json

import pytest
from sqlalchemy import Engine, func, select

from monitor.store.models import Base


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def courses_of(cli, mrn: str) -> list[dict]:
    return json.loads(cli.ok("patient", "show", mrn, "--json"))["courses"]


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    return "A1"


def test_start_and_days_records_consecutive_infusions(cli, patient):
    result = cli("course", "add", patient, "--start", "2024-01-30", "--days", "5")

    assert result.code == 0
    assert warning_lines(result.err) == []
    assert courses_of(cli, patient) == [
        {
            "number": 1,
            "dates": ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02", "2024-02-03"],
        }
    ]


def test_dates_records_a_course_with_a_missed_day(cli, patient):
    result = cli(
        "course",
        "add",
        patient,
        "--dates",
        "2024-01-08,2024-01-09,2024-01-11,2024-01-12,2024-01-13",
    )

    assert result.code == 0
    assert warning_lines(result.err) == []
    assert courses_of(cli, patient)[0]["dates"] == [
        "2024-01-08",
        "2024-01-09",
        "2024-01-11",
        "2024-01-12",
        "2024-01-13",
    ]


def test_dates_may_be_given_in_any_order(cli, patient):
    cli.ok("course", "add", patient, "--dates", "2024-01-10, 2024-01-08,2024-01-09")

    assert courses_of(cli, patient)[0]["dates"] == ["2024-01-08", "2024-01-09", "2024-01-10"]


def test_a_span_of_exactly_14_days_is_one_course(cli, patient):
    cli.ok("course", "add", patient, "--dates", "2024-01-01,2024-01-15")

    assert len(courses_of(cli, patient)) == 1


def test_a_planned_course_in_the_future_is_accepted(cli, patient):
    cli.ok("course", "add", patient, "--start", "2099-01-05", "--days", "5")

    data = json.loads(cli.ok("schedule", patient, "--as-of", "2098-12-20", "--json"))
    baseline = [s for s in data["slots"] if s["kind"] == "baseline"]
    assert {s["status"] for s in baseline} == {"due"}


def test_an_unusual_course_1_length_warns_on_stderr_and_still_succeeds(cli, patient):
    result = cli("course", "add", patient, "--start", "2024-01-08", "--days", "4")

    assert result.code == 0
    lines = warning_lines(result.err)
    assert len(lines) == 1
    assert "course 1" in lines[0]
    assert "4 infusion days" in lines[0]
    assert len(courses_of(cli, patient)) == 1


def test_a_course_less_than_12_months_after_the_previous_warns(cli, patient):
    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")

    result = cli("course", "add", patient, "--start", "2024-11-04", "--days", "3")

    assert result.code == 0
    lines = warning_lines(result.err)
    assert any("12 months" in line and "course 2" in line for line in lines), result.err
    assert len(courses_of(cli, patient)) == 2


def test_a_fifth_course_warns_that_more_than_four_is_unusual(cli, patient):
    cli.ok("course", "add", patient, "--start", "2015-01-05", "--days", "5")
    for year in (2016, 2017, 2018):
        cli.ok("course", "add", patient, "--start", f"{year}-02-01", "--days", "3")

    result = cli("course", "add", patient, "--start", "2019-03-04", "--days", "3")

    assert result.code == 0
    assert any("5 courses" in line for line in warning_lines(result.err)), result.err


def test_a_course_added_before_existing_ones_renumbers_them(cli, patient):
    cli.ok("course", "add", patient, "--start", "2025-03-03", "--days", "3")
    assert courses_of(cli, patient)[0]["dates"][0] == "2025-03-03"

    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")

    courses = courses_of(cli, patient)
    assert [(c["number"], c["dates"][0]) for c in courses] == [
        (1, "2024-01-08"),
        (2, "2025-03-03"),
    ]
    slots = json.loads(cli.ok("schedule", patient, "--as-of", "2024-01-01", "--json"))["slots"]
    baselines = {(s["due_on"], s["course"]) for s in slots if s["kind"] == "baseline"}
    assert baselines == {("2024-01-08", 1), ("2025-03-03", 2)}
    # Course 1's recurring slots stop before course 2 starts.
    assert max(s["due_on"] for s in slots if s["course"] == 1) < "2025-03-03"


def test_adding_a_course_warns_about_nothing_when_the_courses_are_usual(cli, patient):
    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")

    result = cli("course", "add", patient, "--start", "2025-01-13", "--days", "3")

    assert result.code == 0
    assert warning_lines(result.err) == []


# Bad input: exit 2, a message naming the problem, nothing written.


BAD_COURSES = [
    (["--dates", "2024-01-01,2024-01-16"], "looks like two courses"),
    (["--dates", "2024-01-08,2024-01-09,2024-01-08"], "unique"),
    (["--start", "2024-01-08", "--days", "16"], "--days"),
    (["--start", "2024-01-08", "--days", "0"], "--days"),
    (["--start", "2024-13-01", "--days", "5"], "--start"),
    (["--start", "24-01-08", "--days", "5"], "--start"),
    (["--dates", "2024-01-08,2024-1-9"], "--dates"),
    (["--dates", "2024-01-08,2024-02-30"], "--dates"),
    (["--dates", ","], "at least one"),
    (["--start", "2024-01-08"], "--days"),
    (["--days", "5"], "--start"),
    (["--start", "2024-01-08", "--days", "5", "--dates", "2024-01-08"], "not both"),
    ([], "--dates"),
]


def test_each_bad_course_input_is_refused_and_writes_nothing(cli, engine, patient, subtests):
    before = row_counts(engine)

    for args, named in BAD_COURSES:
        with subtests.test(args=args):
            result = cli("course", "add", patient, *args)

            assert result.code == 2, result.err
            assert named in result.err
            assert row_counts(engine) == before


OVERLAPPING = [
    ["--start", "2024-01-12", "--days", "3"],  # starts on the other's last day
    ["--start", "2024-01-05", "--days", "4"],  # ends on the other's first day
    ["--dates", "2024-01-01,2024-01-14"],  # spans the other
    ["--start", "2024-01-08", "--days", "5"],  # the same course twice
]


def test_an_overlapping_course_is_refused_and_writes_nothing(cli, engine, patient, subtests):
    cli.ok("course", "add", patient, "--start", "2024-01-08", "--days", "5")
    before = row_counts(engine)

    for args in OVERLAPPING:
        with subtests.test(args=args):
            result = cli("course", "add", patient, *args)

            assert result.code == 2
            assert "overlaps" in result.err
            assert row_counts(engine) == before

    assert len(courses_of(cli, patient)) == 1


def test_course_for_an_unknown_mrn_is_refused(cli, engine):
    before = row_counts(engine)

    result = cli("course", "add", "NOPE", "--start", "2024-01-08", "--days", "5")

    assert result.code == 2
    assert "unknown MRN 'NOPE'" in result.err
    assert row_counts(engine) == before
