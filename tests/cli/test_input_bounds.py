"""Bad configuration values and bad command-line arguments: exit 2, the key named, no traceback.

Issue 11 item 6 (69 bad configs and 55 bad arguments were tried): each case below either crashed
with a traceback or was accepted silently before. The bounds and why are in docs/decisions.md
("Input bounds").
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import annotated_types
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import Config, ConfigError, parse_config
from tests.cli.test_config import row_counts

# --- running the command -------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    err: str
    exception: BaseException | None

    @property
    def crashed(self) -> bool:
        return self.exception is not None and not isinstance(self.exception, SystemExit)


@pytest.fixture
def monitor(tmp_path, monkeypatch):
    """`monitor ARGS` in an empty folder, no --database (so the config's URL is the one used)."""
    monkeypatch.chdir(tmp_path)
    for variable in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL", "MONITOR_SMTP_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Outcome:
        result = runner.invoke(app, list(args))
        return Outcome(result.exit_code, result.stderr, result.exception)

    return invoke


def refused(outcome: Outcome, *named: str) -> None:
    assert not outcome.crashed, f"traceback: {outcome.exception!r}"
    assert outcome.code == 2, outcome.err
    for text in named:
        assert text in outcome.err
    assert "Traceback" not in outcome.err


# --- the configuration: the cases of the issue ------------------------------------------

LONG_NAME = "x" * 200_000

BAD_CONFIGS = [
    ("[reminders]\ndays_before_due = 100000000000\n", "reminders.days_before_due"),
    ("[reminders]\noverdue_days = [99999999999]\n", "reminders.overdue_days"),
    ("[reminders]\noverdue_days = [-1]\n", "reminders.overdue_days"),
    ("[reminders]\noverdue_days = [7, 7]\n", "reminders.overdue_days"),
    ('[database]\nurl = ""\n', "database.url"),
    ('[database]\nurl = "mysql://monitor@db/monitor"\n', "database.url"),
    ('[database]\nurl = "postgresql+asyncpg://monitor@db/monitor"\n', "database.url"),
    ('[database]\nurl = "not a url"\n', "database.url"),
    ('[clinic]\nname = "Clinic\\r\\nBcc: everyone@example.org"\n', "clinic.name"),
    ('[clinic]\nname = "Clinic\\nX"\n', "clinic.name"),
    (f'[clinic]\nname = "{LONG_NAME}"\n', "clinic.name"),
    ('[clinic]\nname = ""\n', "clinic.name"),
    ('[clinic]\nphone = "0\\r\\n1"\n', "clinic.phone"),
    (f'[clinic]\ntimezone = "{LONG_NAME}"\n', "clinic.timezone"),
    ('[clinic]\ntimezone = "../../../etc/passwd"\n', "clinic.timezone"),
    ('[email]\nfrom = "monitor@clinic.example\\r\\nBcc: x@example.org"\n', "email.from"),
    ('[email]\nfrom = ""\n', "email.from"),
    ('[email]\nfrom = "not an address"\n', "email.from"),
    ('[email]\nfrom = "a@b.example, c@d.example"\n', "email.from"),
    ('[staff]\ndigest_to = ["not an address"]\n', "staff.digest_to"),
    ('[staff]\ndigest_to = ["nurses@clinic.example\\nBcc: x@example.org"]\n', "staff.digest_to"),
    ("[staff]\ndigest_to = []\n", "staff.digest_to"),
    ('[staff]\nurgent_to = ["Doctors <doctors@clinic.example>"]\n', "staff.urgent_to"),
    ("[email.smtp]\ntimeout_seconds = inf\n", "email.smtp.timeout_seconds"),
    ("[email.smtp]\ntimeout_seconds = nan\n", "email.smtp.timeout_seconds"),
    ("[email.smtp]\ntimeout_seconds = 0.001\n", "email.smtp.timeout_seconds"),
    ('[email.smtp]\nusername = "monitor\\r\\nRSET"\n', "email.smtp.username"),
    ('[email.smtp]\nhost = ""\n', "email.smtp.host"),
    ("[protocol]\nmonitoring_months = 1000000000\n", "protocol.monitoring_months"),
    ("[protocol.panels.cbc]\nevery_months = 100000000\n", "protocol.panels.cbc.every_months"),
    ('[protocol.panels."a\\nb"]\nevery_months = 1\n', "protocol.panels"),
    ("[sources.LAB]\nstale_after_days = 100000000000\n", "sources.LAB.stale_after_days"),
    ("[rules.platelets]\ndip_days_after_course = 1e300\n", "dip_days_after_course"),
    ("[web]\nlockout_minutes = 100000000000\n", "web.lockout_minutes"),
    ("[reminders]\ndays_before_due = true\n", "reminders.days_before_due"),
]


def test_each_bad_config_exits_2_naming_the_key_without_a_traceback(monitor, subtests):
    for toml, named in BAD_CONFIGS:
        with subtests.test(config=toml[:60]):
            Path("config.toml").write_text(toml, encoding="utf-8")

            refused(monitor("overdue"), "config.toml", named)


def test_a_bad_config_writes_nothing(cli, engine):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    before = row_counts(engine)
    Path("config.toml").write_text("[reminders]\ndays_before_due = 100000000000\n")

    result = cli("course", "add", "A1", "--start", "2024-01-08", "--days", "5")

    assert result.code == 2
    assert "reminders.days_before_due" in result.err
    assert row_counts(engine) == before


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xff\xfe" + '[clinic]\nname = "x"\n'.encode("utf-16-le"), "UTF-8"),  # UTF-16
        ('[clinic]\nname = "x"\n'.encode("utf-16"), "UTF-8"),
        (b"\x00\x01\x02", "not valid TOML"),
        (b"a = " + b"[" * 100_000, "not valid TOML"),
        (b"# " + b"x" * 2_000_000, "bytes"),
    ],
    ids=["utf-16-le-bom", "utf-16", "binary", "deeply-nested", "huge"],
)
def test_a_config_file_that_is_not_utf8_toml_exits_2(monitor, data, problem):
    Path("config.toml").write_bytes(data)

    refused(monitor("overdue"), "config.toml", problem)


def test_a_config_that_is_a_folder_exits_2(monitor, tmp_path):
    (tmp_path / "folder.toml").mkdir()

    refused(monitor("--config", str(tmp_path / "folder.toml"), "overdue"), "folder.toml")


def test_the_real_process_prints_no_traceback_for_a_utf16_config(tmp_path):
    """The same through `python -m monitor`, where a traceback would reach the terminal."""
    (tmp_path / "config.toml").write_text('[clinic]\nname = "x"\n', encoding="utf-16")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}

    done = subprocess.run(
        [sys.executable, "-m", "monitor", "overdue"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "UTF-8" in done.stderr


# --- the configuration: every number has a range ------------------------------------------


def _numeric_fields(model: type[BaseModel], prefix: str) -> list[tuple[str, Any]]:
    """(dotted key, FieldInfo-like metadata list) for every number, nested sections included."""
    found: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _numeric_fields(annotation, f"{key}.")
        elif annotation in (int, float):
            found.append((key, info.metadata))
        elif getattr(annotation, "__origin__", None) is list:
            (item,) = get_args(annotation)
            if get_args(item) and get_args(item)[0] in (int, float):
                found.append((f"{key}[]", list(get_args(item)[1:])))
        elif getattr(annotation, "__origin__", None) is dict:
            value = get_args(annotation)[1]
            if isinstance(value, type) and issubclass(value, BaseModel):
                found += _numeric_fields(value, f"{key}.*.")
    return found


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    low = high = None
    for item in metadata:
        for constraint in getattr(item, "metadata", [item]):
            if isinstance(constraint, annotated_types.Ge | annotated_types.Gt):
                low = getattr(constraint, "ge", getattr(constraint, "gt", None))
            if isinstance(constraint, annotated_types.Le | annotated_types.Lt):
                high = getattr(constraint, "le", getattr(constraint, "lt", None))
    return low, high


NUMBERS = _numeric_fields(Config, "")


def test_the_walk_finds_the_numbers():
    keys = {key for key, _ in NUMBERS}
    assert {"reminders.days_before_due", "reminders.overdue_days[]", "web.port"} <= keys
    assert {"protocol.panels.*.every_months", "sources.*.stale_after_days"} <= keys


@pytest.mark.parametrize(("key", "metadata"), NUMBERS, ids=[key for key, _ in NUMBERS])
def test_every_number_in_the_config_has_a_lower_and_an_upper_bound(key, metadata):
    low, high = _bounds(metadata)

    assert low is not None and high is not None, f"{key} needs ge= and le= (docs/decisions.md)"


def _config_with(key: str, value: float) -> dict[str, Any]:
    """A config dict setting `key` (dotted, `*` = a table name, `[]` = a one-item list)."""
    parts = key.replace("*", "LAB" if key.startswith("sources") else "cbc").split(".")
    leaf = parts[-1]
    if leaf.endswith("[]"):
        leaf, value = leaf[:-2], [value]  # type: ignore[assignment]
    data: dict[str, Any] = {}
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[leaf] = value
    if key.startswith("sources"):
        node.setdefault("stale_after_days", 3)
    return data


@pytest.mark.parametrize(("key", "metadata"), NUMBERS, ids=[key for key, _ in NUMBERS])
def test_a_number_just_outside_its_range_is_refused_naming_the_key(key, metadata):
    low, high = _bounds(metadata)
    named = key.replace("[]", "").replace("*", "LAB" if key.startswith("sources") else "cbc")

    for outside in (low - 1, high + 1, 10**12, -(10**12)):
        with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
            parse_config(_config_with(key, outside))
    parse_config(_config_with(key, low))
    parse_config(_config_with(key, high))


def test_the_shipped_config_file_is_valid():
    """config.toml documents every default; it must pass the same checks."""
    import tomllib

    shipped = Path(__file__).resolve().parents[2] / "config.toml"
    assert parse_config(tomllib.loads(shipped.read_text(encoding="utf-8"))) == Config()


# --- the SMTP password -----------------------------------------------------------------------


def test_an_smtp_username_without_the_password_stops_the_daemon_with_exit_2(monitor):
    Path("config.toml").write_text(
        '[email]\ntransport = "smtp"\n[email.smtp]\nusername = "monitor"\n', encoding="utf-8"
    )

    refused(monitor("run"), "email.smtp.username", "MONITOR_SMTP_PASSWORD")


# --- the database URL, wherever it comes from ------------------------------------------------


@pytest.mark.parametrize(
    "url", ["", "mysql://monitor:s3cret@db/monitor", "nonsense", "postgresql://h:99999/d"]
)
def test_a_bad_database_option_or_variable_exits_2_naming_it(monitor, monkeypatch, url):
    result = monitor("--database", url, "overdue")
    refused(result, "--database")
    assert "s3cret" not in result.err

    if url:  # an empty variable means "not set"
        monkeypatch.setenv("MONITOR_DATABASE_URL", url)
        result = monitor("overdue")
        refused(result, "MONITOR_DATABASE_URL")
        assert "s3cret" not in result.err


# --- command-line arguments -----------------------------------------------------------------

NEWLINE_MRN = "A2\nX"

BAD_ARGUMENTS = [
    (["course", "add", "A1", "--start", "9999-12-30", "--days", "5"], "--start"),
    (["course", "add", "A1", "--start", "0001-01-01", "--days", "5"], "--start"),
    (["course", "add", "A1", "--dates", "9999-12-31"], "--dates"),
    (["patient", "add", "A2", "--name", "Bob Example", "--site", ""], "--site"),
    (["patient", "add", "A2", "--name", "Bob Example", "--site", "a\nb"], "--site"),
    (["patient", "add", NEWLINE_MRN, "--name", "Bob Example"], "MRN"),
    (["patient", "add", "M" * 65, "--name", "Bob Example"], "MRN"),
    (["patient", "add", "A2", "--name", "x" * 201], "--name"),
    (["patient", "add", "A2", "--name", "Bob\x00Example"], "--name"),
    (["patient", "add", "A2", "--name", "Bob", "--email", "bob@example.org\r\nBcc: x@y.org"],
     "--email"),
    (["patient", "add", "A2", "--name", "Bob", "--email", "bob@example.org,x@y.org"], "--email"),
    (["patient", "add", "A2", "--name", "Bob", "--dob", "0001-01-01"], "--dob"),
    (["patient", "email", "A1", "--set", "a@example.org\nBcc: x@y.org"], "--email"),
    (["patient", "email", "A1", "--set", "not an address"], "--email"),
    (["patient", "status", "A1", "withdrawn", "--on", "9999-12-31"], "--on"),
    (["patient", "status", "A1", "withdrawn", "--on", "2024-01-01", "--reason", "a\x00b"],
     "--reason"),
    (["patient", "pregnancy", "A1", "--from", "9999-12-31"], "--from"),
    (["result", "add", "A1", "--analyte", "tsh", "--value", "2", "--unit", "mIU/L",
      "--collected", "2024-01-02", "--source", ""], "--source"),
    (["result", "add", "A1", "--analyte", "tsh", "--value", "2", "--unit", "mIU/L",
      "--collected", "0001-01-01"], "--collected"),
    (["daily", "--as-of", "9999-12-31"], "--as-of"),
    (["daily", "--as-of", "0001-01-01"], "--as-of"),
    (["schedule", "A1", "--as-of", "9999-12-31"], "--as-of"),
    (["preview", "patient-tests-due", "--as-of", "9999-12-31"], "--as-of"),
    (["preview", "patient-tests-due", "--out", "no-such-folder/x.html"], "--out"),
    (["flag", "ack", "99999999999999999999", "--by", "Nurse Jo"], "flag_id"),
    (["flag", "ack", "1", "--by", "Jo\nBcc"], "--by"),
    (["slot", "waive", "A1", "--panel", "cbc", "--due", "2024-02-08", "--by", "Jo",
      "--reason", "x" * 3000], "--reason"),
    (["outbox", "--limit", "99999999999999999999"], "--limit"),
    (["quarantine", "retry", "99999999999999999999"], "item_id"),
    (["quarantine", "drop", "99999999999999999999", "--reason", "x"], "item_id"),
    (["import", "--source", "a\nb", "missing.hl7"], "--source"),
    (["listen-hl7", "--port", "99999"], "--port"),
    (["serve", "--port", "0"], "--port"),
    (["user", "add", "jo\x00", "--role", "nurse", "--password-stdin"], "user name"),
    (["user", "disable", "jo\x00"], "no user named"),
    (["overdue", "--site", ""], "--site"),
    (["slot", "waive", "A1", "--panel", "cbc\x00", "--due", "2024-02-08", "--by", "Jo",
      "--reason", "done elsewhere"], "--panel"),
    (["patient", "show", "A1\x00"], "unknown MRN"),
    (["schedule", "A1\x00"], "unknown MRN"),
    (["import", "--patient", "A1\x00", "missing.hl7"], "--patient"),
]  # fmt: skip


def test_each_bad_argument_exits_2_naming_it_and_writes_nothing(cli, engine, subtests):
    cli.ok("patient", "add", "A1", "--name", "Ann Example")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    before = row_counts(engine)

    for args, named in BAD_ARGUMENTS:
        with subtests.test(args=args[:3]):
            result = cli.runner.invoke(
                app, ["--database", cli.url, *args], input="a long enough password\n"
            )

            outcome = Outcome(result.exit_code, result.stderr, result.exception)
            refused(outcome, named)
            assert row_counts(engine) == before
