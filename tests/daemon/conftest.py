"""Fixtures for the daemon tests: a real SMTP server, dedicated databases, `monitor run` processes.

The daemon holds a lock per database and runs the daily cycle over every patient in it, so each
test gets a database of its own: a SQLite file in the test's folder, or a PostgreSQL database
created (and dropped) beside the one MONITOR_TEST_DATABASE_URL names.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from monitor.cli import app
from monitor.store.db import make_engine
from monitor.store.migrate import upgrade
from tests.conftest import Cli

PG_URL_VARIABLE = "MONITOR_TEST_DATABASE_URL"
REPO = Path(__file__).resolve().parents[2]
TIMEZONE = "Europe/London"
DIGEST_TO = "nurses@clinic.example"
URGENT_TO = "clinicians@clinic.example"
SENDER = "monitor@clinic.example"

# Three patients due: a course 40 days ago leaves the baseline overdue and a monthly slot due.
PATIENTS = (
    ("D001", "Alice Atkins", "alice@example.org"),
    ("D002", "Bob Brown", "bob@example.org"),
    ("D003", "Carol Clark", "carol@example.org"),
)


# --- an SMTP server ----------------------------------------------------------------------------


@dataclass
class Mailbox:
    """aiosmtpd handler that keeps every message it accepts (handlers run in its own thread)."""

    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        assert isinstance(content, bytes)
        self.messages.append(content)
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(raw) for raw in list(self.messages)]


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    controller: Controller | None = None

    def start(self) -> None:
        """Listen on `port` (again, after `stop`)."""
        assert self.controller is None
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    """A local port nobody listens on (aiosmtpd cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no login) on a free port, already listening."""
    server = SmtpServer(free_port(), Mailbox())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_down() -> Iterator[SmtpServer]:
    """An SMTP server that is not listening yet: call `start()` to bring it back."""
    server = SmtpServer(free_port(), Mailbox())
    try:
        yield server
    finally:
        server.stop()


# --- databases ---------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_URL_VARIABLE} is not set in CI: PostgreSQL tests must run")
        pytest.skip(f"{PG_URL_VARIABLE} not set")
    return url


class MakeDatabase(Protocol):
    def __call__(self, revision: str = "head") -> str: ...


_numbers = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def make_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeDatabase]:
    """Creates empty databases migrated to `revision`, of this test's backend; drops them after."""
    backend: str = request.param
    created: list[str] = []
    admin: Engine | None = None
    if backend == "postgresql":
        admin = make_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")

    def make(revision: str = "head") -> str:
        number = next(_numbers)
        if admin is None:
            url = f"sqlite:///{tmp_path / f'daemon-{number}.db'}"
        else:
            name = f"monitor_daemon_test_{os.getpid()}_{number}"
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            created.append(name)
            url = admin.url.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        try:
            upgrade(engine, revision)
        finally:
            engine.dispose()
        return url

    try:
        yield make
    finally:
        if admin is not None:
            with admin.connect() as connection:
                for name in created:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture
def database(make_database: MakeDatabase) -> str:
    """The URL of a fresh database at the latest revision."""
    return make_database()


@pytest.fixture
def db_engine(database: str) -> Iterator[Engine]:
    engine = make_engine(database)
    try:
        yield engine
    finally:
        engine.dispose()


# The shared `engine` and `cli` fixtures (tests/conftest.py), on this folder's own databases: the
# daily cycle reads every patient in the database, so nothing else may write to it meanwhile.


@pytest.fixture
def engine(db_engine: Engine) -> Engine:
    return db_engine


@pytest.fixture
def cli(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI in an empty folder (so no stray config.toml is read) on this test's database."""
    monkeypatch.chdir(tmp_path)
    for name in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL", "MONITOR_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return Cli(CliRunner(), database)


# --- configuration, patients -------------------------------------------------------------------


def write_config(
    folder: Path, *, smtp_port: int, log_format: str = "json", extra: str = ""
) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[clinic]
name = "Test MS Clinic"
phone = "0100 000 0000"
timezone = "{TIMEZONE}"
daily_at = "07:00"

[email]
transport = "smtp"
from = "{SENDER}"

[email.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout_seconds = 5

[staff]
digest_to = ["{DIGEST_TO}"]
urgent_to = ["{URGENT_TO}"]

[logging]
level = "INFO"
format = "{log_format}"
{extra}
""",
        encoding="utf-8",
    )
    return path


def clinic_today() -> date:
    from monitor import clock

    return clock.today_in(TIMEZONE)


def invoke(url: str, config: Path | None, *args: str) -> str:
    """Run a `monitor` command in-process; it must succeed."""
    options = ["--database", url] + (["--config", str(config)] if config else [])
    result = CliRunner().invoke(app, [*options, *args])
    assert result.exit_code == 0, f"monitor {' '.join(args)}: {result.stderr}"
    return result.stdout


def add_due_patients(url: str, config: Path | None, *, today: date | None = None) -> None:
    """PATIENTS, each with a course that started 40 days before `today` (default: clinic today)."""
    start = (today or clinic_today()) - timedelta(days=40)
    for mrn, name, email in PATIENTS:
        invoke(url, config, "patient", "add", mrn, "--name", name, "--email", email)
        invoke(url, config, "course", "add", mrn, "--start", start.isoformat(), "--days", "5")


# --- processes ---------------------------------------------------------------------------------


def monitor_env(**extra: str) -> dict[str, str]:
    """The environment for a `monitor` subprocess: this checkout's code, no stray settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def monitor_command(url: str, config: Path | None, *args: str) -> list[str]:
    options = ["--database", url] + (["--config", str(config)] if config else [])
    return [sys.executable, "-m", "monitor", *options, *args]


@dataclass
class Finished:
    code: int
    out: str
    err: str


def run_monitor(
    url: str, config: Path | None, *args: str, cwd: Path, timeout: float = 60, **env: str
) -> Finished:
    """Run a `monitor` command to its end in a subprocess."""
    done = subprocess.run(
        monitor_command(url, config, *args),
        cwd=cwd,
        env=monitor_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then the exit code (raises TimeoutExpired if it does not stop in time)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def log_lines(self) -> list[dict[str, Any]]:
        """The stderr lines, each of which must be one JSON object."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.strip()]


@contextmanager
def start_daemon(url: str, config: Path, *, cwd: Path, name: str = "daemon") -> Iterator[Daemon]:
    """`monitor run` in the background; always killed (and reaped) when the block ends."""
    stderr_path = cwd / f"{name}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            monitor_command(url, config, "run"),
            cwd=cwd,
            env=monitor_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield Daemon(process, stderr_path)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float = 20,
    what: str = "condition",
    daemon: Daemon | None = None,
) -> None:
    """Poll until `condition()` is true; fail (with the daemon's stderr) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if daemon is not None and not daemon.alive():
            pytest.fail(f"the daemon exited ({daemon.process.returncode}) while waiting for "
                        f"{what}:\n{daemon.stderr}")  # fmt: skip
        if time.monotonic() > deadline:
            detail = f":\n{daemon.stderr}" if daemon is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(0.1)
