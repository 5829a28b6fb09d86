"""Engines and units of work.

SQLite (the embedded default) gets WAL, a busy timeout, foreign keys, and `BEGIN IMMEDIATE` so a
transaction that reads and then writes waits for the lock instead of failing (tech.md §2.8).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session

from monitor.domain.catalogue import Catalogue
from monitor.errors import InvalidInput

# The drivers the program is built and tested with (SQLAlchemy's spelling, backend+driver).
SUPPORTED_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")
URL_EXAMPLES = "sqlite:///monitor.db or postgresql://user@host:5432/dbname"


def database_url_problem(url: str) -> str | None:
    """Why `url` names no database the program can use, or None (never echoes a password)."""
    if not url.strip():
        return f"is empty; give a URL such as {URL_EXAMPLES}"
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        return f"is not a database URL; give one such as {URL_EXAMPLES}"
    if parsed.drivername not in SUPPORTED_DRIVERS:
        return f"uses {parsed.drivername!r}, which is not supported; use {URL_EXAMPLES}"
    if port is not None and not 1 <= port <= 65535:
        return f"has port {port}, outside 1-65535"
    if any(c in (parsed.database or "") for c in "\x00\r\n"):
        return "has a control character in its database name"
    return None


def checked_database_url(url: str, origin: str) -> URL:
    """The parsed URL, or InvalidInput saying which setting (`origin`) is wrong and how."""
    problem = database_url_problem(url)
    if problem is not None:
        raise InvalidInput(f"{origin} {problem}")
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and importlib.util.find_spec("psycopg") is None:
        raise InvalidInput(
            f"{origin} names PostgreSQL, but psycopg is not installed: install the "
            "`postgres` extra (pip install 'alemtuzumab-monitor[postgres]')"
        )
    return parsed


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; `postgresql://` uses psycopg 3. InvalidInput for a URL it cannot use."""
    parsed = checked_database_url(url, "the database URL")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # JIT: the planner overestimates the overdue filter's rows and JIT-compiles every call,
    # costing seconds for milliseconds of work (BENCHMARKS.md); these queries never need it.
    return create_engine(
        parsed, pool_pre_ping=True, connect_args={"options": "-c jit=off"}, **kwargs
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


CATALOGUE_KEY = "catalogue"


@contextmanager
def unit_of_work(engine: Engine, catalogue: Catalogue | None = None) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises.

    `catalogue` (the configured protocols) is what the slots of patients whose record the
    transaction changed are rebuilt from before it commits (`services.schedule.upkeep`); a
    transaction that changes no patient's record (a list, the outbox, a user) needs none.
    """
    with make_session(engine, catalogue) as session, session.begin():
        yield session


def make_session(engine: Engine, catalogue: Catalogue | None = None) -> Session:
    """A session for a caller that commits as it goes (an import of several files, one commit
    each), carrying `catalogue` as `unit_of_work` does."""
    return Session(engine, expire_on_commit=False, info={CATALOGUE_KEY: catalogue})


def session_catalogue(session: Session) -> Catalogue | None:
    """The protocols the session's unit of work was opened with, if any."""
    found: Catalogue | None = session.info.get(CATALOGUE_KEY)
    return found


def plan_each_statement(session: Session) -> None:
    """On PostgreSQL, plan every statement of this transaction for its own values (`SET LOCAL
    plan_cache_mode`). A long transaction that fills a table it found nearly empty (a clinic's
    first daily cycle queues an email for every patient) otherwise keeps the plans made while
    it was empty: the check of each notice's foreign key on `outbox` became a scan of every
    outbox row written so far, so the cycle grew with the square of its emails (issue 15)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def dialect_insert(
    session: Session, model: type[DeclarativeBase]
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for the session's database that has `on_conflict_do_nothing` (both dialects)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
