"""Shared fixtures.

Database tests run on SQLite always, and again on PostgreSQL when MONITOR_TEST_DATABASE_URL is set
(CI sets it and fails if the server is unreachable; on a laptop without it they skip). Each
database is migrated once per session with the real Alembic migrations; every test starts from
empty tables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import Config, parse_config
from monitor.store.db import make_engine
from monitor.store.migrate import upgrade
from monitor.store.models import Base

PG_URL_VARIABLE = "MONITOR_TEST_DATABASE_URL"


def _backends() -> list[object]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def postgres_url() -> str:
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_URL_VARIABLE} is not set in CI: PostgreSQL tests must run")
        pytest.skip(f"{PG_URL_VARIABLE} not set")
    return url


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """A migrated database URL, once per backend per session."""
    url = sqlite_url if request.param == "sqlite" else postgres_url()
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        _reset_postgres(engine)
    upgrade(engine)
    engine.dispose()
    yield url


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on empty, migrated tables."""
    engine = make_engine(database_url)
    _empty_tables(engine)
    yield engine
    engine.dispose()


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@dataclass
class Cli:
    """Runs the real `monitor` command in-process against one test database."""

    runner: CliRunner
    url: str

    def __call__(self, *args: str, input: str | None = None) -> CliResult:
        result = self.runner.invoke(app, ["--database", self.url, *args], input=input)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.code == 0, f"monitor {' '.join(args)} exited {result.code}: {result.err}"
        return result.out


@dataclass
class CliResult:
    code: int
    out: str
    err: str


# typer rebuilds the whole command tree on every CliRunner.invoke (most of a call's CPU time);
# the tree never changes, so build it once.
_command_once = functools.cache(typer.main.get_command)


@pytest.fixture
def cli(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI in an empty folder (so no stray config.toml is read) on a clean database."""
    monkeypatch.setattr(typer.testing, "_get_command", _command_once)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    return Cli(CliRunner(), str(engine.url.render_as_string(hide_password=False)))


# --- a configured clinic ----------------------------------------------------------------------
# Until a clinic sets its own name, phone, sender and staff addresses, the daily cycle holds
# patient reminders back and skips staff emails (issue 10 item 3). Tests that expect reminders
# use these values (the shipped placeholders are what `Config()` holds).

CLINIC_SETTINGS: dict[str, dict[str, Any]] = {
    "clinic": {"name": "Test MS Clinic", "phone": "0100 000 0000"},
    "email": {"from": "monitor@clinic.example"},
    "staff": {"digest_to": ["nurses@clinic.example"], "urgent_to": ["clinicians@clinic.example"]},
}
CLINIC_TOML = """
[clinic]
name = "Test MS Clinic"
phone = "0100 000 0000"

[email]
from = "monitor@clinic.example"

[staff]
digest_to = ["nurses@clinic.example"]
urgent_to = ["clinicians@clinic.example"]
"""


def clinic_config(overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """A Config with the clinic's own values, each section of `overrides` merged on top."""
    data = {section: dict(values) for section, values in CLINIC_SETTINGS.items()}
    for section, values in (overrides or {}).items():
        data[section] = {**data.get(section, {}), **values}
    return parse_config(data)
