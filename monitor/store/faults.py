"""Database errors in plain words, with what to do about them (for the CLI, the logs, the web).

SQLAlchemy's text for an error carries the SQL statement and its parameters (an MRN, a name, a
result value) and PostgreSQL's DETAIL the conflicting key, so nothing here repeats `str(error)`.
Each known cause maps to a fixed sentence (`DatabaseFault.what`, safe for a log line) and advice;
anything else is named by its class and SQLSTATE only. The one exception is a failed connection,
whose driver text (host, port, user, the server's reason) holds no patient data and is the best
clue there is; people see it, logs do not.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

RUN_AGAIN = "run the command again"
UPGRADE = "run `monitor db upgrade`"


@dataclass(frozen=True)
class DatabaseFault:
    """What went wrong (fixed words, safe to log) and what to do (may name a file or a host)."""

    what: str
    advice: str
    detail: str | None = None  # a failed connection's driver text: for people, never for logs
    refuses_writes: bool = False  # read-only or full: reads still work, nothing can be stored

    def __str__(self) -> str:
        text = f"{self.what}: {self.advice}"
        return f"{text}\n{self.detail}" if self.detail else text


def describe_database_error(error: SQLAlchemyError, url: str | None = None) -> DatabaseFault:
    """The plain cause of a database error; `url` (the database's) sharpens SQLite's file faults."""
    if isinstance(error, PoolTimeout):
        return DatabaseFault("no database connection came free in time", RUN_AGAIN)
    if isinstance(error, ArgumentError):
        return DatabaseFault("the database URL is not valid", "check MONITOR_DATABASE_URL")
    if not isinstance(error, DBAPIError):
        return DatabaseFault(f"the database layer failed ({type(error).__name__})", RUN_AGAIN)
    cause = error.orig
    if isinstance(cause, sqlite3.Error):
        return _sqlite_fault(cause, url)
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None and type(error).__name__ == "OperationalError":
        # psycopg: no SQLSTATE means libpq itself could not connect (or lost the connection).
        return DatabaseFault(
            "cannot connect to the database",
            "check that the server is running and the database URL (host, port, user, password,"
            " database name)",
            detail=str(cause).strip(),
        )
    return _postgres_fault(error, str(sqlstate or ""))


# --- SQLite -------------------------------------------------------------------------------------

# Primary result codes (the low byte of the extended code); https://sqlite.org/rescode.html
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_CONSTRAINT, _SQLITE_NOTADB = (
    11,
    13,
    14,
    19,
    26,
)
NEARLY_FULL_BYTES = 1024 * 1024  # less than this left: the write that failed could not fit
_SQLITE_DUPLICATE = (1555, 2067)  # SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE
_SIDE_FILES = "SQLite also writes its -wal and -shm files in that folder"


def _sqlite_fault(cause: sqlite3.Error, url: str | None) -> DatabaseFault:
    path = sqlite_file(url)
    code = getattr(cause, "sqlite_errorcode", 0) & 0xFF
    where = f" ({path})" if path else ""
    if code == _SQLITE_FULL or (code == _SQLITE_IOERR and _disk_is_full(path)):
        return DatabaseFault(
            "the disk is full",
            f"free space on the disk that holds the database{where}, then {RUN_AGAIN}; "
            "nothing of this command's unfinished work was kept",
            refuses_writes=True,
        )
    if code == _SQLITE_READONLY or (code == _SQLITE_CANTOPEN and _is_read_only(path)):
        advice = _write_advice(path, url)
        return DatabaseFault("the database file is read-only", advice, refuses_writes=True)
    if code == _SQLITE_CANTOPEN:
        return DatabaseFault(
            "the database file cannot be opened",
            f"check the path in the database URL{where}, that its folder exists and that the "
            f"monitor user may read and write the file and the folder ({_SIDE_FILES})",
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseFault(
            "the database stayed locked by another process for over 30 s",
            f"wait for the other command to finish, then {RUN_AGAIN}",
        )
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return DatabaseFault(
            "the database file is damaged or is not a monitor database",
            "stop the service and restore the latest backup (docs/operations.md)",
        )
    if code == _SQLITE_IOERR:
        return DatabaseFault(
            "the disk reported an input/output error",
            "check the disk (and that it is not full) and the system log, then "
            f"{RUN_AGAIN}; restore the latest backup if the file is damaged",
        )
    if code == _SQLITE_CONSTRAINT:
        extended = getattr(cause, "sqlite_errorcode", 0)
        return _refused(None, duplicate=extended in _SQLITE_DUPLICATE)
    name = getattr(cause, "sqlite_errorname", type(cause).__name__)
    return DatabaseFault(f"the database reported an error ({name})", RUN_AGAIN)


def sqlite_file(url: str | None) -> Path | None:
    """The file a SQLite URL names (a `file:` URI too), or None."""
    if not url:
        return None
    try:
        database = make_url(url).database
    except ArgumentError:
        return None
    if not database or database == ":memory:":
        return None
    return Path(database.removeprefix("file:").partition("?")[0])


def _disk_is_full(path: Path | None) -> bool:
    """Nearly no space left where the database lives: a full disk shows as an I/O error when
    SQLite fails to grow its -shm or -wal file rather than the database itself."""
    if path is None:
        return False
    try:
        return shutil.disk_usage(path.parent).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def _is_read_only(path: Path | None) -> bool:
    """The file exists but cannot be written here, or its disk is mounted read-only."""
    try:
        if path is None or not path.exists():
            return False
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        return _on_read_only_mount(path) or not writable
    except OSError:
        return False


def _on_read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _write_advice(path: Path | None, url: str | None) -> str:
    if url and "mode=ro" in url:
        return "the database URL opens it read-only (mode=ro): remove that to make changes"
    if path is None:
        return f"let the monitor user write the database file and its folder ({_SIDE_FILES})"
    if _on_read_only_mount(path):
        return f"its disk is mounted read-only: remount it read-write or move {path}"
    return f"let the monitor user write {path} and its folder ({_SIDE_FILES})"


# --- PostgreSQL ---------------------------------------------------------------------------------

_POSTGRES: dict[str, tuple[str, str]] = {
    "25006": (
        "the database is read-only (a standby server, or default_transaction_read_only)",
        "point the database URL at the primary server",
    ),
    "53100": (
        "the database server's disk is full",
        f"free space on the database server, then {RUN_AGAIN}",
    ),
    "53200": ("the database server ran out of memory", RUN_AGAIN),
    "53300": (
        "the database server has no free connections",
        f"stop idle clients or raise max_connections, then {RUN_AGAIN}",
    ),
    "57014": (
        "the database cancelled the command (a statement timeout, or an administrator)",
        RUN_AGAIN,
    ),
    "40001": ("the command collided with a concurrent change", RUN_AGAIN),
    "40P01": ("the command collided with a concurrent change (a deadlock)", RUN_AGAIN),
    "3D000": (
        "the database named in the URL does not exist",
        f"create it (docs/operations.md), then {UPGRADE}",
    ),
    "42P01": ("the database has no monitor tables, or old ones", UPGRADE),
    "42703": ("the database's tables are from another version", UPGRADE),
    "42501": (
        "the database user lacks a privilege this command needs",
        "make the monitor user the database's owner (docs/operations.md)",
    ),
}


_REFUSES_WRITES = ("25006", "53100")


def _postgres_fault(error: DBAPIError, sqlstate: str) -> DatabaseFault:
    if sqlstate in _POSTGRES:
        what, advice = _POSTGRES[sqlstate]
        return DatabaseFault(what, advice, refuses_writes=sqlstate in _REFUSES_WRITES)
    if sqlstate.startswith("57P") or sqlstate.startswith("08"):
        return DatabaseFault(
            "the database server shut down, restarted or dropped the connection",
            f"{RUN_AGAIN} once it is back; this command's unfinished work was not kept",
        )
    if sqlstate.startswith("28"):
        return DatabaseFault(
            "the database refused the login", "check the user and password in the database URL"
        )
    if sqlstate.startswith("23"):
        diag = getattr(error.orig, "diag", None)
        return _refused(getattr(diag, "constraint_name", None), duplicate=sqlstate == "23505")
    kind = type(error).__name__
    return DatabaseFault(
        f"the database reported an error ({kind}, SQLSTATE {sqlstate or 'unknown'})", RUN_AGAIN
    )


def _refused(constraint: str | None, *, duplicate: bool) -> DatabaseFault:
    """A constraint said no; its name is the schema's, never the row's values."""
    named = f" ({constraint})" if constraint else ""
    if duplicate:
        return DatabaseFault(
            f"the change conflicts with a record already stored{named}",
            f"nothing was changed; if another command was changing the same record, {RUN_AGAIN}",
        )
    return DatabaseFault(
        f"the database refused the change{named}",
        "nothing was changed; a rule of the database forbids it (see the constraint's name)",
    )


def error_summary(error: BaseException) -> str:
    """For a log line: the exception's type, and a database fault's fixed words; no message.

    An exception's own text (SQL parameters, values) may carry patient data.
    """
    kind = type(error).__name__
    if isinstance(error, SQLAlchemyError):
        return f"{kind}: {describe_database_error(error).what}"
    return kind
