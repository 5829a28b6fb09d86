"""The schema and the database's health, as the commands and the web ask them.

The migrations, the fault descriptions, the write probe and the daemon lock are the store's;
this is the one door the CLI and the web go through to them, so that they import nothing from
`monitor.store` but the engine and unit-of-work factory (`monitor.store.db`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.store import faults, health, lock, schema_version


@dataclass(frozen=True)
class SchemaRevision:
    """The database's migration revision and the newest this release has (None: no schema)."""

    current: str | None
    head: str | None


def schema_revision(engine: Engine) -> SchemaRevision:
    return SchemaRevision(schema_version.current_revision(engine), schema_version.HEAD_REVISION)


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the newest revision (commands refuse to work otherwise)."""
    return schema_version.is_at_head(engine)


def upgrade_schema(engine: Engine) -> str | None:
    """Create or migrate the schema to the newest revision; the revision it is at now."""
    # Imported here, not above: Alembic and its script directory are a large part of a
    # command's start-up, and only this command needs them (issue 15).
    from monitor.store import migrate

    migrate.upgrade(engine)
    return schema_version.current_revision(engine)


def write_problems(engine: Engine) -> list[str]:
    """What stops the database taking writes (it refuses them, or its disk is nearly full)."""
    return health.database_problems(engine)


def daemon_holder(engine: Engine) -> str | None:
    """Who runs the daemon on this database (host, pid, since), or None when nobody does."""
    return lock.describe_holder(engine)


def describe_fault(error: SQLAlchemyError, url: str | None = None) -> faults.DatabaseFault:
    """A database error in plain words, with what to do; never the error's own text."""
    return faults.describe_database_error(error, url)


def error_summary(error: BaseException) -> str:
    """For a log line: the exception's type and a database fault's fixed words, nothing else."""
    return faults.error_summary(error)
