"""Can the service still write its database? For `monitor status` (docs/operations.md).

A read-only database (a file or mount that turned read-only, a PostgreSQL standby) or a full
disk stops every daily cycle and every delivery, while reads, and so the worklist, still work:
`monitor status` must say so before the daily cycle is missed.
"""

from __future__ import annotations

import shutil

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from monitor.store.faults import describe_database_error, sqlite_file

# Below this, the next daily cycle (a few MB of rendered email for a large clinic) may not fit.
LOW_DISK_BYTES = 100 * 1024 * 1024

# An UPDATE that changes nothing still needs a write transaction, and is rolled back anyway.
_WRITE_PROBE = text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0")


def database_problems(engine: Engine) -> list[str]:
    """Problems that stop writes: the database refuses them, or its disk is nearly full."""
    problems = []
    refused = write_refused(engine)
    if refused is not None:
        problems.append(refused)
    low = low_disk_space(engine)
    if low is not None:
        problems.append(low)
    return problems


def write_refused(engine: Engine) -> str | None:
    """Why the database refuses a write, or None when it takes one."""
    url = engine.url.render_as_string()
    try:
        with engine.connect() as connection:
            connection.execute(_WRITE_PROBE)
            connection.rollback()
    except DBAPIError as error:
        fault = describe_database_error(error, url)
        if not fault.refuses_writes:
            raise
        return f"database writes fail: {fault}"
    return None


def low_disk_space(engine: Engine) -> str | None:
    """A SQLite database's disk with less than LOW_DISK_BYTES free (PostgreSQL's is not ours)."""
    path = sqlite_file(engine.url.render_as_string()) if engine.dialect.name == "sqlite" else None
    if path is None:
        return None
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return None
    if free >= LOW_DISK_BYTES:
        return None
    return (
        f"the disk that holds the database has {free // (1024 * 1024)} MiB free: free space "
        "before it fills (a full disk stops every daily cycle and delivery)"
    )
