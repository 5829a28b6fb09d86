"""What every command shares: the configuration, the database, error handling, output."""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from monitor import clock
from monitor.cli.root import GlobalOptions
from monitor.config import Config, ConfigError, load_config
from monitor.domain.dates import checked_date
from monitor.errors import Field, InvalidInput, MonitorError
from monitor.services.operations.database import describe_fault, schema_is_current
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.store.db import checked_database_url, make_engine, unit_of_work

P = ParamSpec("P")
R = TypeVar("R")

# `--json` on every command that has it: the keys are a stable contract (SPEC §7).
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Row ids (flags, quarantine items) are PostgreSQL `integer`s: a larger number names no row and
# would fail in the driver instead, so the option refuses it (exit 2, naming the argument).
MAX_ROW_ID = 2**31 - 1


@dataclass
class AppState:
    """Made from the global options by `state`; commands ask it for the config and the engine."""

    config_path: Path | None = None
    database_url: str | None = None
    _config: Config | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def url(self) -> str:
        # Validate the whole config even when --database or the environment names the database:
        # a bad config stops every command before it touches the database (SPEC §8).
        config = self.config
        if self.database_url is not None:
            url, origin = self.database_url, "--database"
        elif env := os.environ.get("MONITOR_DATABASE_URL"):
            url, origin = env, "$MONITOR_DATABASE_URL"
        else:
            url, origin = config.database.url, "database.url"
        checked_database_url(url, origin)
        return url

    def engine(self, *, require_schema: bool = True, current_schedules: bool = False) -> Engine:
        """The database engine; refuses a database that is not at the latest migration, and
        with `current_schedules` (commands that read stored slots) one whose slots were
        computed from another protocol than the configuration's (StaleSchedules, exit 1)."""
        if self._engine is None:
            self._engine = make_engine(self.url)
        if require_schema and not schema_is_current(self._engine):
            raise MonitorError(
                "the database is not at the latest schema revision; run `monitor db upgrade`"
            )
        if current_schedules:
            with unit_of_work(self._engine) as session:
                require_current_schedules(session, self.config.catalogue)
        return self._engine

    @contextmanager
    def session(self, *, current_schedules: bool = False) -> Iterator[Session]:
        """One unit of work on the database (see `engine` for `current_schedules`), with the
        configured protocol for the slots of any record it changes."""
        engine = self.engine(current_schedules=current_schedules)
        with unit_of_work(engine, self.config.catalogue) as session:
            yield session

    def close(self) -> None:
        """Release the database connections (called when the command ends)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def today(self) -> date:
        return clock.today_in(self.config.clinic.timezone)


_STATE = "monitor.app_state"  # the key of the AppState in the root context's `meta`


def state(ctx: typer.Context) -> AppState:
    """The command's configuration and database, made from the global options on first use
    (and closed when the command ends)."""
    root = ctx.find_root()
    app_state = root.meta.get(_STATE)
    if app_state is None:
        options = root.obj
        assert isinstance(options, GlobalOptions)
        app_state = AppState(config_path=options.config_path, database_url=options.database_url)
        root.meta[_STATE] = app_state
        root.call_on_close(app_state.close)
    assert isinstance(app_state, AppState)
    return app_state


# How the CLI names each field a service may refuse: by the option (or argument) it is typed in.
OPTION_NAMES: dict[Field, str] = {
    Field.MRN: "MRN",
    Field.NAME: "--name",
    Field.SITE: "--site",
    Field.EMAIL: "--email",
    Field.SEX: "--sex",
    Field.BORN_ON: "--dob",
    Field.REASON: "--reason",
    Field.NOTE: "--note",
    Field.ACKNOWLEDGED_BY: "--by",
    Field.WAIVED_BY: "--by",
    Field.PANEL: "--panel",
    Field.REF_LOW: "--ref-low",
    Field.REF_HIGH: "--ref-high",
    Field.PREGNANCY_START: "--from",
    Field.PREGNANCY_END: "--to",
    Field.ROLE: "--role",
    Field.OUTCOME: "--outcome",
    Field.CONTACT_BY: "--by",
    Field.BOOKED_ON: "--booked-on",
    Field.PHONE: "--phone",
    Field.ADDRESS: "--address",
    Field.CHANNEL: "--channel",
}


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our errors into SPEC §7's exit codes: 2 for bad input, 1 for anything else."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except InvalidInput as error:
            fail(error.worded(OPTION_NAMES), code=2)
        except ConfigError as error:
            fail(str(error), code=2)
        except MonitorError as error:
            fail(str(error), code=1)
        except SQLAlchemyError as error:
            # Never str(error): it carries the SQL statement and its parameters (patient data).
            url = _database_url([*args, *kwargs.values()])
            fail(str(describe_fault(error, url)), code=1)

    return wrapper


def _database_url(arguments: list[object]) -> str | None:
    """The URL the failing command used (from its context), to name a SQLite file at fault.

    Duck-typed: typer hands commands its own copy of click's Context class.
    """
    find_roots = (getattr(argument, "find_root", None) for argument in arguments)
    root = next((find_root() for find_root in find_roots if callable(find_root)), None)
    obj = None if root is None else root.meta.get(_STATE)
    if not isinstance(obj, AppState):
        return None
    try:
        return obj.url
    except MonitorError:
        return None


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_date(value: str, option: str) -> date:
    """A strict YYYY-MM-DD date in the supported calendar; InvalidInput names the option."""
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value[:40]!r} is not a date as YYYY-MM-DD") from None
    return checked_date(parsed, option)


def optional_date(value: str | None, option: str) -> date | None:
    return None if value is None else parse_date(value, option)


def as_of(ctx: typer.Context, value: str | None) -> date:
    """`--as-of`, or today in the clinic's time zone."""
    return parse_date(value, "--as-of") if value is not None else state(ctx).today()


def cli_actor() -> str:
    """Who made a change from the command line, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def wide_console() -> Console:
    """A Rich console; when output is piped or captured, wide enough not to cut columns."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)
