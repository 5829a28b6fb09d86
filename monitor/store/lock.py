"""One daemon per database: a lock file beside a SQLite file, an advisory lock on PostgreSQL.

The lock is defence in depth, not the correctness mechanism: unique dedupe keys and the outbox
claim already make a double send impossible. It exists so a second `monitor run` says plainly
who holds the database instead of quietly doubling the work.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from monitor.errors import MonitorError

ADVISORY_KEY = 0x4C454D54  # "LEMT": one lock per database for the monitor daemon
APPLICATION_PREFIX = "monitor-daemon"
# `describe_holder` (monitor status) holds a shared lock on the file for an instant; a daemon
# starting at that moment tries again before deciding the database is taken.
FILE_LOCK_ATTEMPTS = 5
FILE_LOCK_PAUSE_SECONDS = 0.1
# PostgreSQL keeps 63 bytes of application_name: pid and a compact UTC time first, the host name
# last, so only a long host name (over ~23 characters) is cut.
_LABEL = re.compile(rf"{APPLICATION_PREFIX} (?P<pid>\d+) (?P<since>\d{{8}}T\d{{6}}Z) (?P<host>.*)")
_LABEL_TIME = "%Y%m%dT%H%M%SZ"
# Advisory locks are per database, but pg_locks shows the whole cluster.
_OUR_LOCK = (
    "l.locktype = 'advisory' AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class LockHeld(MonitorError):
    """Another daemon holds this database."""


def _since(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


def holder_description(now: datetime) -> str:
    return _describe(socket.gethostname(), os.getpid(), _since(now))


def _describe(host: str, pid: int | str, since: str) -> str:
    return f"host {host}, pid {pid}, since {since}"


@contextmanager
def daemon_lock(engine: Engine, now: datetime) -> Iterator[str]:
    """Hold the database's daemon lock for the block; LockHeld names the holder otherwise."""
    holder = holder_description(now)
    if engine.dialect.name == "sqlite":
        with _file_lock(lock_path(engine), holder):
            yield holder
    else:
        stamp = now.astimezone(UTC).strftime(_LABEL_TIME)
        label = f"{APPLICATION_PREFIX} {os.getpid()} {stamp} {socket.gethostname()}"
        with _advisory_lock(engine, label):
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
        for attempt in range(1, FILE_LOCK_ATTEMPTS + 1):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == FILE_LOCK_ATTEMPTS:
                    handle.seek(0)
                    holder_text = handle.read().strip() or "unknown"
                    raise LockHeld(f"another monitor daemon holds {path}: {holder_text}") from None
                time.sleep(FILE_LOCK_PAUSE_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(holder + "\n")
        handle.flush()
        yield
    finally:
        handle.close()


@contextmanager
def _advisory_lock(engine: Engine, label: str) -> Iterator[None]:
    # A dedicated connection, never returned to the pool while the lock is held (a session
    # advisory lock survives going back to the pool).
    connection = engine.connect()
    try:
        connection.execute(
            text("SELECT set_config('application_name', :name, false)"),
            {"name": label.encode()[:63].decode(errors="ignore")},
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
            f"WHERE {_OUR_LOCK} AND l.granted LIMIT 1"
        ),
        {"key": ADVISORY_KEY},
    )
    if not name:
        return "unknown"
    found = _LABEL.fullmatch(str(name))
    if found is None:
        return str(name).removeprefix(APPLICATION_PREFIX).strip() or "unknown"
    since = datetime.strptime(found["since"], _LABEL_TIME).replace(tzinfo=UTC)
    return _describe(found["host"] or "unknown", found["pid"], _since(since))


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
            text(f"SELECT count(*) FROM pg_locks l WHERE {_OUR_LOCK} AND l.granted"),
            {"key": ADVISORY_KEY},
        )
        return current_holder(connection) if held else None
