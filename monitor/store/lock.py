"""One daemon per database: a lock file beside a SQLite file, an advisory lock on PostgreSQL.

The lock is defence in depth, not the correctness mechanism: unique dedupe keys and the outbox
claim already make a double send impossible. It exists so a second `monitor run` says plainly
who holds the database instead of quietly doubling the work.

Both kinds can vanish under a running daemon without a word (PostgreSQL's with its connection,
the flock with its file), so the daemon `confirm`s its lock on every tick: it takes a freed lock
back, and stops, exit 1, when another process holds it now (docs/operations.md).
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

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


class LockLost(MonitorError):
    """The lock went away under a running daemon and another process holds it now."""


class DaemonLock(ABC):
    """The lock a running daemon holds; `confirm` before acting, on every tick."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self._mutex = threading.Lock()  # the daemon's jobs run in threads of their own

    def confirm(self) -> bool:
        """Check the lock is still ours; take it back if it was freed (returns True then).

        LockLost when another process holds it now; a database error (unreachable) propagates,
        and the next call tries again.
        """
        with self._mutex:
            if self._still_held():
                return False
            self._drop()
            try:
                self.take()
            except LockHeld as held:
                raise LockLost(f"lost the daemon lock: {held}") from None
            return True

    @abstractmethod
    def take(self) -> None:
        """Take the lock, or raise LockHeld naming the holder."""

    @abstractmethod
    def _still_held(self) -> bool: ...

    @abstractmethod
    def _drop(self) -> None:
        """Let go of whatever is left of the lock (a closed connection, a deleted file)."""

    def release(self) -> None:
        with self._mutex:
            self._drop()


@contextmanager
def daemon_lock(engine: Engine, now: datetime) -> Iterator[DaemonLock]:
    """Hold the database's daemon lock for the block; LockHeld names the holder otherwise."""
    holder = holder_description(now)
    lock: DaemonLock
    if engine.dialect.name == "sqlite":
        lock = _FileLock(lock_path(engine), holder)
    else:
        stamp = now.astimezone(UTC).strftime(_LABEL_TIME)
        label = f"{APPLICATION_PREFIX} {os.getpid()} {stamp} {socket.gethostname()}"
        lock = _AdvisoryLock(engine, label, holder)
    lock.take()
    try:
        yield lock
    finally:
        lock.release()


def lock_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise MonitorError("the daemon needs a SQLite file, not an in-memory database")
    return Path(f"{database}.lock")


class _FileLock(DaemonLock):
    """An exclusive flock on `<database>.lock`, which names the holder.

    The flock belongs to the open file, not the name: if the file is deleted or replaced, a
    second daemon could lock a new file of the same name, so `_still_held` compares the two.
    """

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(holder)
        self.path = path
        self._handle: IO[str] | None = None

    def take(self) -> None:
        handle: IO[str] = self.path.open("a+")
        try:
            for attempt in range(1, FILE_LOCK_ATTEMPTS + 1):
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if attempt == FILE_LOCK_ATTEMPTS:
                        handle.seek(0)
                        holder_text = handle.read().strip() or "unknown"
                        raise LockHeld(
                            f"another monitor daemon holds {self.path}: {holder_text}"
                        ) from None
                    time.sleep(FILE_LOCK_PAUSE_SECONDS)
            handle.seek(0)
            handle.truncate()
            handle.write(self.holder + "\n")
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def _still_held(self) -> bool:
        if self._handle is None:
            return False
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(self._handle.fileno())
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def _drop(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _AdvisoryLock(DaemonLock):
    """A session advisory lock on a dedicated connection, named by its application_name.

    The lock ends with its connection: `pg_terminate_backend`, a server restart or a network
    cut frees it without a word, so `_still_held` asks pg_locks on that connection.
    """

    def __init__(self, engine: Engine, label: str, holder: str) -> None:
        super().__init__(holder)
        self.engine = engine
        self.label = label.encode()[:63].decode(errors="ignore")
        self._connection: Connection | None = None

    def take(self) -> None:
        # A dedicated connection, never returned to the pool while the lock is held (a session
        # advisory lock survives going back to the pool).
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            connection.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": self.label}
            )
            taken = connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            )
            if not taken:
                raise LockHeld(
                    f"another monitor daemon holds this database: {current_holder(connection)}"
                )
        except BaseException:
            _discard(connection)
            raise
        self._connection = connection

    def _still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            held = self._connection.scalar(
                text(
                    f"SELECT count(*) FROM pg_locks l WHERE {_OUR_LOCK} "
                    "AND l.pid = pg_backend_pid() AND l.granted"
                ),
                {"key": ADVISORY_KEY},
            )
        except DBAPIError:
            return False  # the connection is gone, and the lock with it
        return bool(held)

    def _drop(self) -> None:
        if self._connection is not None:
            _discard(self._connection)
            self._connection = None


def _discard(connection: Connection) -> None:
    """Close for good: an invalidated connection is not pooled, so its session lock ends."""
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
