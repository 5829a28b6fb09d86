"""`monitor demo`: a synthetic clinic in ./monitor-demo.db (SPEC §7). No test database needed."""

import functools
import json
from pathlib import Path

import pytest
import typer.main
import typer.testing
from freezegun import freeze_time
from typer.testing import CliRunner

from monitor.cli import app

# typer rebuilds the whole click command tree on every CliRunner.invoke (about 70 ms of CPU, most
# of a test command's cost); build it once per module.
_command_once = functools.cache(typer.main.get_command)


@pytest.fixture(autouse=True)
def _build_the_cli_once(monkeypatch):
    monkeypatch.setattr(typer.testing, "_get_command", _command_once)


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run `monitor` in an empty folder with no configuration from the environment."""
    monkeypatch.chdir(tmp_path)
    for variable in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def test_demo_builds_a_clinic_in_the_current_folder_and_prints_the_overdue_list(run, tmp_path):
    other = tmp_path / "clinic.db"
    demo_db = f"sqlite:///{tmp_path / 'monitor-demo.db'}"
    with freeze_time("2026-03-02 10:00:00"):
        result = run("--database", f"sqlite:///{other}", "demo", "--patients", "5")

        assert result.exit_code == 0, result.stderr
        assert (tmp_path / "monitor-demo.db").is_file()
        assert not other.exists()  # the demo never touches the configured database
        assert "5 synthetic patients" in result.stdout
        assert "Overdue" in result.stdout
        assert "2026-03-02" in result.stdout

        rows = json.loads(run("--database", demo_db, "overdue", "--json").stdout)
        assert rows
        assert all(row["mrn"].startswith("DEMO") for row in rows)
        shown = run("--database", demo_db, "patient", "show", "DEMO0005", "--json")
        assert shown.exit_code == 0
        assert json.loads(shown.stdout)["courses"]
        assert run("--database", demo_db, "patient", "show", "DEMO0006").exit_code == 2

        # A second run starts again from scratch and, with the same seed, builds the same clinic.
        assert run("demo", "--patients", "5").exit_code == 0
        again = json.loads(run("--database", demo_db, "overdue", "--json").stdout)
        assert again == rows


def test_demo_with_a_bad_config_exits_2_and_creates_nothing(run, tmp_path):
    (tmp_path / "config.toml").write_text("[clinic]\nbogus = 1\n")

    result = run("demo", "--patients", "5")

    assert result.exit_code == 2
    assert "clinic.bogus" in result.stderr
    assert not Path(tmp_path / "monitor-demo.db").exists()


def test_demo_refuses_a_patient_count_out_of_range(run, tmp_path):
    result = run("demo", "--patients", "0")

    assert result.exit_code == 2
    assert not (tmp_path / "monitor-demo.db").exists()


def test_the_demo_is_exempt_from_the_placeholder_hold_and_writes_as_its_own_clinic(run, tmp_path):
    """With no config.toml the demo still writes reminders, with its own clinic's words."""
    with freeze_time("2026-03-02 10:00:00"):
        result = run("demo", "--patients", "20")

    assert result.exit_code == 0, result.stderr
    mails = sorted((tmp_path / "monitor-demo-mail").glob("*.eml"))
    texts = [path.read_bytes().decode("utf-8", errors="replace") for path in mails]
    reminders = [text for text in texts if "Reminder from" in text]
    assert reminders, "the demo should write patient reminders"
    assert all("Demo MS Clinic" in text for text in reminders)
    assert not any("Your clinic" in text or "000 000 0000" in text for text in texts)
