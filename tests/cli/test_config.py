"""Configuration and database selection, and `monitor db upgrade` (SPEC §7, §8)."""

import dataclasses
import functools
import json

import pytest
import typer.main
import typer.testing
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.store.db import make_engine
from monitor.store.migrate import current_revision, head_revision
from monitor.store.models import Base

# typer rebuilds the whole click command tree on every CliRunner.invoke (about 70 ms of CPU, most
# of a test command's cost); build it once per module.
_command_once = functools.cache(typer.main.get_command)


@pytest.fixture(autouse=True)
def _build_the_cli_once(monkeypatch):
    monkeypatch.setattr(typer.testing, "_get_command", _command_once)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def config_file(tmp_path):
    """Write ./config.toml (the cli fixture runs in tmp_path)."""

    def write(text: str):
        path = tmp_path / "config.toml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def run(tmp_path, monkeypatch):
    """`monitor` with no --database, in an empty folder, for tests that need no test database."""
    monkeypatch.chdir(tmp_path)
    for variable in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


COMMANDS = [
    ["patient", "add", "A1", "--name", "Ann Example"],
    ["patient", "status", "B2", "withdrawn", "--on", "2024-03-01"],
    ["course", "add", "B2", "--start", "2024-01-08", "--days", "5"],
    ["result", "add", "B2", "--analyte", "tsh", "--value", "2", "--unit", "mIU/L",
     "--collected", "2024-01-02"],
    ["patient", "show", "B2", "--json"],
    ["schedule", "B2", "--json"],
    ["results", "B2", "--json"],
    ["overdue", "--json"],
    ["db", "upgrade"],
]  # fmt: skip


def test_an_unknown_key_stops_every_command_naming_the_key_and_writes_nothing(
    cli, engine, config_file, subtests
):
    cli.ok("patient", "add", "B2", "--name", "Existing Patient")
    before = row_counts(engine)
    config_file("[clinic]\nbogus = 1\n")

    for command in COMMANDS:
        with subtests.test(command=command[:2]):
            result = cli(*command)

            assert result.code == 2, result.out
            assert "clinic.bogus" in result.err
            assert "unknown key" in result.err
            assert result.out == ""
            assert row_counts(engine) == before


BAD_CONFIGS = [
    ("colour = 'red'\n", "colour"),
    ("[protocol.panels.cbc]\nevery_weeks = 4\n", "protocol.panels.cbc.every_weeks"),
    ('[clinic]\ntimezone = "Mars/Olympus_Mons"\n', "Mars/Olympus_Mons"),
    ('[clinic]\ntimezone = "Mars/Olympus_Mons"\n', "clinic.timezone"),
    ('[reminders]\ndays_before_due = "seven"\n', "reminders.days_before_due"),
    ("[protocol]\nmonitoring_months = 0\n", "protocol.monitoring_months"),
    ('[clinic]\ndaily_at = "7am"\n', "clinic.daily_at"),
    ('[email]\ntransport = "pigeon"\n', "email.transport"),
    ('[protocol.panels.cbc]\nanalytes = ["platelet"]\n', "protocol.panels.cbc.analytes"),
    ("[clinic\nname = \n", "config.toml"),  # not TOML
]


def test_each_bad_config_stops_the_program_naming_the_key(cli, engine, config_file, subtests):
    before = row_counts(engine)

    for toml, named in BAD_CONFIGS:
        with subtests.test(config=toml):
            config_file(toml)

            result = cli("patient", "add", "A1", "--name", "Ann Example")

            assert result.code == 2
            assert named in result.err
            assert row_counts(engine) == before


def test_a_named_config_file_that_does_not_exist_exits_2(run, tmp_path, monkeypatch):
    result = run("--config", str(tmp_path / "missing.toml"), "overdue")

    assert result.exit_code == 2
    assert "missing.toml" in result.stderr
    monkeypatch.setenv("MONITOR_CONFIG", str(tmp_path / "gone.toml"))
    result = run("overdue")
    assert result.exit_code == 2
    assert "gone.toml" in result.stderr


def test_config_option_and_environment_variable_choose_the_file(cli, tmp_path, monkeypatch):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    short = tmp_path / "short.toml"
    short.write_text("[protocol]\nmonitoring_months = 24\n")
    (tmp_path / "config.toml").write_text("[protocol]\nmonitoring_months = 36\n")

    def end(*options: str) -> str:
        return json.loads(cli.ok(*options, "patient", "show", "A1", "--json"))["monitoring_end"]

    assert end() == "2027-01-12"  # ./config.toml
    assert end("--config", str(short)) == "2026-01-12"
    monkeypatch.setenv("MONITOR_CONFIG", str(short))
    assert end() == "2026-01-12"


def test_a_site_can_change_one_key_of_a_panel(cli, config_file):
    config_file("[protocol.panels.tsh]\nevery_months = 1\n")
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")

    slots = json.loads(cli.ok("schedule", "A1", "--as-of", "2024-01-01", "--json"))["slots"]

    tsh = [s for s in slots if s["panel"] == "tsh" and s["kind"] == "recurring"]
    assert tsh[0]["due_on"] == "2024-02-12"
    assert (tsh[0]["window_start"], tsh[0]["window_end"]) == ("2024-01-29", "2024-02-26")


# the database


def test_db_upgrade_on_a_migrated_database_changes_nothing(cli, engine):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    before = row_counts(engine)

    out = cli.ok("db", "upgrade")

    assert head_revision(engine) in out
    assert current_revision(engine) == head_revision(engine)
    assert row_counts(engine) == before


def test_db_upgrade_creates_a_new_database_and_commands_work_after_it(run, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"

    assert run("--database", url, "db", "upgrade").exit_code == 0

    assert run("--database", url, "patient", "add", "A1", "--name", "Ann").exit_code == 0
    shown = run("--database", url, "patient", "show", "A1", "--json")
    assert json.loads(shown.stdout)["mrn"] == "A1"


def test_a_database_not_migrated_exits_1_naming_db_upgrade(run, tmp_path, subtests):
    url = f"sqlite:///{tmp_path / 'empty.db'}"

    for command in COMMANDS[:-1]:
        with subtests.test(command=command[:2]):
            result = run("--database", url, *command)

            assert result.exit_code == 1
            assert "monitor db upgrade" in result.stderr

    engine = make_engine(url)
    assert current_revision(engine) is None
    engine.dispose()


def test_the_database_option_wins_over_the_environment_and_the_config(
    cli, tmp_path, monkeypatch, config_file
):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("MONITOR_DATABASE_URL", empty)
    config_file(f'[database]\nurl = "{empty}"\n')

    assert json.loads(cli.ok("patient", "show", "A1", "--json"))["mrn"] == "A1"


def test_the_environment_wins_over_the_config_and_the_config_is_the_last_resort(
    cli, tmp_path, monkeypatch, config_file
):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    plain = dataclasses.replace(cli, url="")

    def show() -> tuple[int, str]:
        result = plain.runner.invoke(app, ["patient", "show", "A1", "--json"])
        return result.exit_code, result.stderr

    config_file(f'[database]\nurl = "{cli.url}"\n')
    assert show()[0] == 0
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, err = show()
    assert code == 1
    assert "monitor db upgrade" in err
