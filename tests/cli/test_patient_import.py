"""`monitor patient import FILE` through the real command on SQLite and PostgreSQL (issue 14
item 1): every row checked first, bad rows listed by line (exit 2, nothing written),
`--skip-bad`, `--dry-run`, `--json`, idempotent re-imports, the audit, and records on file."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from monitor.store.models import AuditEntry, Patient
from tests.cli.examples_helper import template_xlsx
from tests.cli.test_patients import row_counts

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "caseload-template.csv"
HEADER = "mrn,name,dob,sex,site,email,phone,address,course_dates,protocol,started_on,stopped_on"
GOOD = "G1,Gail Good,1981-01-01,F,main,gail@example.org,0100 1,,2024-01-08;2024-01-09,,,"


def write(tmp_path: Path, *lines: str, name: str = "caseload.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def report(cli, *args: str) -> tuple[int, dict]:
    result = cli("patient", "import", *args, "--json")
    return result.code, json.loads(result.out)


def test_the_template_imports_every_patient_course_and_treatment(cli, engine: Engine) -> None:
    out = cli.ok("patient", "import", str(TEMPLATE), "--by", "nurse.amy")

    assert "patients 3 new, 0 updated, 0 unchanged, 0 skipped" in out
    assert "courses added 3, treatments added 2" in out
    ann = json.loads(cli.ok("patient", "show", "EX0001", "--json"))
    assert [len(c["dates"]) for c in ann["courses"]] == [5, 3]
    ben = json.loads(cli.ok("patient", "show", "EX0002", "--json"))
    assert [(t["protocol"], t["stopped_on"]) for t in ben["treatments"]] == [
        ("dimethyl_fumarate", "2024-09-30"),
        ("natalizumab", None),
    ]
    with engine.connect() as connection:
        patient = connection.execute(select(Patient).where(Patient.mrn == "EX0002")).one()
        actors = set(connection.scalars(select(AuditEntry.actor)))
        actions = sorted(connection.scalars(select(AuditEntry.action)))
    assert patient.phone == "0100 000 0002"
    assert patient.address == "2 Sample Road\nExampletown\nEX2 2BB"
    assert actors == {"nurse.amy"}
    assert actions.count("patient.add") == 3
    assert actions.count("course.add") == 3
    assert actions.count("treatment.start") == 2
    schedule = json.loads(cli.ok("schedule", "EX0001", "--json"))
    assert schedule["slots"], "the imported courses have their schedule"


def test_the_actor_is_the_os_user_without_by(cli, engine: Engine) -> None:
    cli.ok("patient", "import", str(TEMPLATE))
    with engine.connect() as connection:
        actors = set(connection.scalars(select(AuditEntry.actor)))
    assert actors == {f"cli:{getpass.getuser()}"}


def test_importing_the_same_file_again_changes_nothing(cli, engine: Engine) -> None:
    cli.ok("patient", "import", str(TEMPLATE))
    before = row_counts(engine)

    code, again = report(cli, str(TEMPLATE))

    assert code == 0
    assert again["patients"] == {"new": 0, "updated": 0, "unchanged": 3, "skipped": 0}
    assert again["courses_added"] == again["treatments_added"] == 0
    assert row_counts(engine) == before


def test_dry_run_says_what_would_change_and_writes_nothing(cli, engine: Engine) -> None:
    before = row_counts(engine)

    out = cli.ok("patient", "import", str(TEMPLATE), "--dry-run")
    code, data = report(cli, str(TEMPLATE), "--dry-run")

    assert out.startswith("would import 5 rows: patients 3 new")
    assert code == 0
    assert data["dry_run"] is True and data["written"] is False
    assert data["patients"]["new"] == 3 and data["courses_added"] == 3
    assert row_counts(engine) == before


def test_the_json_keys(cli) -> None:
    code, data = report(cli, str(TEMPLATE))

    assert code == 0
    assert {
        "file",
        "dry_run",
        "written",
        "rows",
        "patients",
        "courses_added",
        "treatments_added",
        "treatments_stopped",
        "bad_rows",
        "errors",
    } <= data.keys()
    assert data["rows"] == 5 and data["errors"] == [] and data["written"] is True


BAD_ROWS = [
    ("B1,Bad Date,1980-02-30,F,main,,,,2024-01-08,,,", "dob '1980-02-30' is not a date"),
    ("B1,Bad Sex,1980-01-01,Q,main,,,,2024-01-08,,,", "sex must be one of F, M, X"),
    ("B1,Bad Email,1980-01-01,F,main,not-an-address,,,2024-01-08,,,", "email 'not-an-address'"),
    ("B1,Bad Phone,1980-01-01,F,main,,call me,,2024-01-08,,,", "phone must be digits"),
    ("B1,Future,2199-01-01,F,main,,,,2024-01-08,,,", "dob 2199-01-01 is in the future"),
    ("B1,Bad Site,1980-01-01,F," + "s" * 65 + ",,,,2024-01-08,,,", "site must have at most 64"),
    ("B1,Span,1980-01-01,F,main,,,,2024-01-01;2024-01-20,,,", "span more than 14 days"),
    ("B1,Repeat,1980-01-01,F,main,,,,2024-01-01;2024-01-01,,,", "must be unique"),
    ("B1,Unknown,1980-01-01,F,main,,,,,fingolimod,2024-01-01,", "unknown protocol 'fingolimod'"),
    ("B1,Courses,1980-01-01,F,main,,,,,alemtuzumab,2024-01-01,", "is given in courses"),
    ("B1,Continuous,1980-01-01,F,main,,,,2024-01-08,natalizumab,,", "is continuous"),
    (
        "B1,Backwards,1980-01-01,F,main,,,,,natalizumab,2024-05-01,2024-04-01",
        "before the treatment",
    ),
    ("B1,No Protocol,1980-01-01,F,main,,,,,,2024-05-01,", "give the protocol"),
    ("B1,Both,1980-01-01,F,main,,,,2024-01-08,,2024-05-01,", "not both"),
    ("B1,,1980-01-01,F,main,,,,2024-01-08,,,", "name must not be empty"),
    (",No MRN,1980-01-01,F,main,,,,2024-01-08,,,", "mrn must not be empty"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_a_bad_row_is_listed_by_line_and_nothing_is_written(
    cli, engine: Engine, tmp_path: Path, row: str, reason: str
) -> None:
    path = write(tmp_path, HEADER, GOOD, row)
    before = row_counts(engine)

    result = cli("patient", "import", path)

    assert result.code == 2
    assert "line 3" in result.err
    assert reason in result.err
    assert "nothing was written" in result.err
    assert row_counts(engine) == before


def test_every_bad_row_is_listed_with_its_line_in_json(cli, engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER,
        "B1,Bad Date,1980-02-30,F,main,,,,2024-01-08,,,",
        GOOD,
        "B3,Bad Sex,1980-01-01,Q,main,,,,2024-01-08,,,",
    )
    code, data = report(cli, path)

    assert code == 2
    assert data["written"] is False
    assert [(e["line"], e["mrn"]) for e in data["errors"]] == [(2, "B1"), (4, "B3")]
    assert data["bad_rows"] == 2
    assert row_counts(engine)["patients"] == 0


def test_rows_of_one_mrn_must_agree_and_the_whole_patient_is_skipped(
    cli, engine: Engine, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER,
        "A1,Ann Example,1980-05-04,F,main,,,,2024-01-08;2024-01-09,,,",
        GOOD,
        "A1,Ann Exampel,1980-05-04,F,main,,,,2025-01-13,,,",
    )

    refused = cli("patient", "import", path)
    code, data = report(cli, path, "--skip-bad")

    assert refused.code == 2
    assert "line 4 (MRN A1): name differ(s) from line 2 of the same MRN" in refused.err
    assert code == 0
    assert data["written"] is True
    assert data["patients"] == {"new": 1, "updated": 0, "unchanged": 0, "skipped": 1}
    assert (data["bad_rows"], data["rows_left_out"]) == (1, 2)
    assert "1 of 3 rows are bad (and 1 good rows of the same patients)" in refused.err
    reasons = {e["line"]: e["reason"] for e in data["errors"]}
    assert reasons[2] == "not imported: line 4 of the same MRN is bad"
    assert "A1" not in json.dumps(cli.ok("patient", "show", "G1", "--json"))
    assert cli("patient", "show", "A1").code == 2


def test_overlapping_courses_of_one_patient_are_refused_on_the_later_row(
    cli, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER,
        "A1,Ann,1980-05-04,F,main,,,,2024-01-08;2024-01-09;2024-01-10,,,",
        "A1,Ann,1980-05-04,F,main,,,,2024-01-10;2024-01-11,,,",
    )
    result = cli("patient", "import", path)
    assert result.code == 2
    assert "line 3 (MRN A1): course 2024-01-08..2024-01-10 overlaps" in result.err


def test_a_second_open_treatment_of_one_protocol_is_refused(cli, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER,
        "A1,Ann,1980-05-04,F,main,,,,,natalizumab,2023-01-02,",
        "A1,Ann,1980-05-04,F,main,,,,,natalizumab,2024-01-02,",
    )
    result = cli("patient", "import", path)
    assert result.code == 2
    assert "line 3 (MRN A1): A1 already has an open natalizumab treatment" in result.err


def test_skip_bad_with_only_good_rows_writes_them_all(cli, tmp_path: Path) -> None:
    code, data = report(cli, write(tmp_path, HEADER, GOOD), "--skip-bad")
    assert code == 0 and data["patients"]["new"] == 1 and data["errors"] == []


def test_a_file_error_is_exit_2(cli, engine: Engine, tmp_path: Path) -> None:
    unknown = cli("patient", "import", write(tmp_path, "mrn,name,colour,course_dates", GOOD))
    missing = cli("patient", "import", str(tmp_path / "nothing.csv"))
    wrong = cli("patient", "import", write(tmp_path, HEADER, name="caseload.pdf"))

    assert unknown.code == 2 and "unknown column(s) colour" in unknown.err
    assert missing.code == 2 and "is not a file" in missing.err
    assert wrong.code == 2 and ".csv or .xlsx" in wrong.err
    assert row_counts(engine)["patients"] == 0


def test_a_bad_by_is_exit_2(cli, tmp_path: Path) -> None:
    result = cli("patient", "import", str(TEMPLATE), "--by", " ")
    assert result.code == 2 and "--by must not be empty" in result.err


# --- patients already on record ---------------------------------------------------------------


def test_a_record_is_filled_in_where_it_lacks_a_detail_and_audited(
    cli, engine: Engine, tmp_path: Path
) -> None:
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--dob", "1980-05-04")
    cli.ok("course", "add", "A1", "--dates", "2024-01-08,2024-01-09")
    path = write(
        tmp_path,
        HEADER,
        "A1,Ann Example,1980-05-04,F,main,ann@example.org,0100 2,,2024-01-08;2024-01-09,,,",
        "A1,Ann Example,1980-05-04,F,main,ann@example.org,0100 2,,2025-02-03;2025-02-04,,,",
    )

    code, data = report(cli, path, "--by", "amy")

    assert code == 0
    assert data["patients"] == {"new": 0, "updated": 1, "unchanged": 0, "skipped": 0}
    assert data["courses_added"] == 1
    shown = json.loads(cli.ok("patient", "show", "A1", "--json"))
    assert shown["email"] == "ann@example.org" and shown["sex"] == "F"
    assert len(shown["courses"]) == 2
    with engine.connect() as connection:
        entry = connection.execute(
            select(AuditEntry).where(AuditEntry.action == "patient.import")
        ).one()
    assert entry.actor == "amy"
    assert entry.before == {"email": None, "sex": None, "phone": None}
    assert entry.after == {"email": "ann@example.org", "sex": "F", "phone": "0100 2"}
    assert report(cli, path)[1]["patients"]["unchanged"] == 1


def test_a_detail_that_differs_from_the_record_is_refused_not_overwritten(
    cli, engine: Engine, tmp_path: Path
) -> None:
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--dob", "1980-05-04")
    path = write(tmp_path, HEADER, "A1,Ann Other,1980-05-05,F,main,,,,2024-01-08,,,")
    before = row_counts(engine)

    result = cli("patient", "import", path)

    assert result.code == 2
    assert "line 2 (MRN A1): name, dob differ(s) from the record of MRN A1" in result.err
    assert row_counts(engine) == before
    assert json.loads(cli.ok("patient", "show", "A1", "--json"))["name"] == "Ann Example"


def test_an_open_treatment_on_record_is_stopped_by_the_file(cli, tmp_path: Path) -> None:
    cli.ok("patient", "add", "A1", "--name", "Ann")
    cli.ok("treatment", "start", "A1", "natalizumab", "--on", "2023-01-02")
    path = write(tmp_path, HEADER, "A1,Ann,,,,,,,,natalizumab,2023-01-02,2024-06-30")

    code, data = report(cli, path)

    assert code == 0 and data["treatments_stopped"] == 1
    shown = json.loads(cli.ok("patient", "show", "A1", "--json"))
    assert shown["treatments"][0]["stopped_on"] == "2024-06-30"


def test_a_course_overlapping_one_on_record_is_refused(cli, engine: Engine, tmp_path: Path) -> None:
    cli.ok("patient", "add", "A1", "--name", "Ann")
    cli.ok("course", "add", "A1", "--dates", "2024-01-08,2024-01-09")
    before = row_counts(engine)
    result = cli("patient", "import", write(tmp_path, HEADER, "A1,Ann,,,,,,,2024-01-09,,,"))
    assert result.code == 2 and "overlaps" in result.err
    assert row_counts(engine) == before


def test_an_xlsx_file_imports(cli, tmp_path: Path) -> None:
    out = cli.ok("patient", "import", str(template_xlsx(tmp_path)))
    assert "patients 3 new" in out


# --- a large file -------------------------------------------------------------------------------


def big_file(tmp_path: Path, rows: int, bad_at: int | None) -> str:
    """`rows` patients, one row each (a continuous treatment: few slots, a fast test; every 50th
    an alemtuzumab course), the row of patient `bad_at` with an impossible date of birth."""
    lines = [HEADER]
    for n in range(rows):
        dob = "1980-02-30" if n == bad_at else "1980-02-03"
        if n % 50 == 0:
            lines.append(f"P{n:05d},Pat {n},{dob},F,main,,,,2024-01-08;2024-01-09,,,")
        else:
            lines.append(f"P{n:05d},Pat {n},{dob},M,north,,,,,natalizumab,2024-03-04,")
    return write(tmp_path, *lines)


def test_a_2000_row_file_with_a_bad_row_in_the_middle(cli, engine: Engine, tmp_path: Path) -> None:
    path = big_file(tmp_path, 2000, bad_at=1000)
    before = row_counts(engine)

    refused, data = report(cli, path)

    assert refused == 2
    assert [(e["line"], e["mrn"]) for e in data["errors"]] == [(1002, "P01000")]
    assert row_counts(engine) == before

    code, skipped = report(cli, path, "--skip-bad")

    assert code == 0
    assert skipped["patients"] == {"new": 1999, "updated": 0, "unchanged": 0, "skipped": 1}
    counts = row_counts(engine)
    assert counts["patients"] == 1999
    assert counts["treatments"] == 1999
    assert counts["courses"] == 39  # every 50th patient has a course; P01000 was one
    assert cli("patient", "show", "P01000").code == 2
    assert json.loads(cli.ok("patient", "show", "P01999", "--json"))["treatments"]

    _, again = report(cli, path, "--skip-bad")
    assert again["patients"]["unchanged"] == 1999
    assert row_counts(engine) == counts
