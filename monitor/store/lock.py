"""One daemon per database: a lock file beside a SQLite file, an advisory lock on PostgreSQL.

The lock is defence in depth, not the correctness mechanism: unique dedupe keys and the outbox
claim already make a double send impossible. It exists so a second `monitor run` says plainly
who holds the database instead of quietly doubling the work.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from monitor.errors import MonitorError

ADVISORY_KEY = 0x4C454D54  # "LEMT": one lock per database for the monitor daemon
APPLICATION_PREFIX = "monitor-daemon"


class LockHeld(MonitorError):
    """Another daemon holds this database."""


def holder_description(now: datetime) -> str:
    return f"host {socket.gethostname()}, pid {os.getpid()}, since {now.isoformat()}"


@contextmanager
def daemon_lock(engine: Engine, now: datetime) -> Iterator[str]:
    """Hold the database's daemon lock for the block; LockHeld names the holder otherwise."""
    holder = holder_description(now)
    if engine.dialect.name == "sqlite":
        with _file_lock(lock_path(engine), holder):
            yield holder
    else:
        with _advisory_lock(engine, holder):
            yield holder


def lock_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise MonitorError("the daemon needs a SQLite file, not an in-memory database")
    return Path(f"{database}.lock")


@contextmanager
def _file_lock(path: Path, holder: str) -> Iterator[None]:
    handle: IO[str] = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise LockHeld(
                f"another monitor daemon holds {path}: {handle.read().strip()}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(holder + "\n")
        handle.flush()
        yield
    finally:
        handle.close()


@contextmanager
def _advisory_lock(engine: Engine, holder: str) -> Iterator[None]:
    # A dedicated connection, never returned to the pool while the lock is held (a session
    # advisory lock survives going back to the pool).
    connection = engine.connect()
    try:
        connection.execute(
            text("SELECT set_config('application_name', :name, false)"),
            {"name": f"{APPLICATION_PREFIX} {holder}"[:63]},
        )
        taken = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY})
        connection.commit()
        if not taken:
            raise LockHeld(
                f"another monitor daemon holds this database: {current_holder(connection)}"
            )
        yield
    finally:
        connection.invalidate()
        connection.close()


def current_holder(connection: Connection) -> str:
    """Who holds the PostgreSQL advisory lock, from its connection's application name."""
    name = connection.scalar(
        text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.objid = :key AND l.granted LIMIT 1"
        ),
        {"key": ADVISORY_KEY},
    )
    if not name:
        return "unknown"
    return str(name).removeprefix(APPLICATION_PREFIX).strip() or "unknown"


def describe_holder(engine: Engine) -> str | None:
    """The current holder without taking the lock (for `monitor status`), or None if free."""
    if engine.dialect.name == "sqlite":
        path = lock_path(engine)
        if not path.exists():
            return None
        with path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "unknown"
            return None
    with engine.connect() as connection:
        held = connection.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key"),
            {"key": ADVISORY_KEY},
        )
        return current_holder(connection) if held else None
