"""A running daemon whose lock is taken from under it (issue 11, item 3), as real processes.

PostgreSQL: the lock is a session advisory lock, so `pg_terminate_backend` on its connection
frees it silently. SQLite: the lock is an flock on `<file>.lock`, so deleting the file lets a
second daemon lock a new file of the same name. Either way the running daemon must notice at its
next tick: take the lock back if it is free, or stop acting and exit 1 if another holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from monitor.store.db import make_engine
from monitor.store.lock import ADVISORY_KEY, describe_holder, lock_path
from tests.daemon.conftest import (
    Daemon,
    MakeDatabase,
    SmtpServer,
    run_monitor,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_process import HOLDER, STARTUP

# The daemon checks its lock every LOCK_CHECK_SECONDS (10 s): well within this.
NOTICED = 60

LOCK_BACKENDS = text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@pytest.fixture
def postgres_database(make_database: MakeDatabase) -> str:
    url = make_database()
    if not url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's")
    return url


@pytest.fixture
def sqlite_database(make_database: MakeDatabase) -> str:
    url = make_database()
    if not url.startswith("sqlite"):
        pytest.skip("the lock file is SQLite's")
    return url


@pytest.fixture
def admin(postgres_database: str) -> Iterator[Engine]:
    engine = make_engine(postgres_database, isolation_level="AUTOCOMMIT")
    try:
        yield engine
    finally:
        engine.dispose()


def lock_backends(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.scalars(LOCK_BACKENDS, {"key": ADVISORY_KEY}))


def holder_pid(engine: Engine) -> int | None:
    found = HOLDER.fullmatch(describe_holder(engine) or "")
    return int(found[1]) if found else None


def started(engine: Engine, daemon: Daemon) -> None:
    wait_for(lambda: holder_pid(engine), what="start-up", timeout=STARTUP, daemon=daemon)


def terminate_lock_connection(engine: Engine) -> int:
    """pg_terminate_backend on the connection that holds the daemon's advisory lock."""
    (backend,) = lock_backends(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    wait_for(lambda: backend not in lock_backends(engine), what="the backend to end")
    return backend


def messages(daemon: Daemon) -> list[str]:
    """The log lines' messages (JSON), without the CLI's closing `error:` line."""
    lines = [line for line in daemon.stderr.splitlines() if not line.startswith("error: ")]
    return [json.loads(line)["message"] for line in lines if line.strip()]


def closing_error(daemon: Daemon) -> str:
    return daemon.stderr.strip().splitlines()[-1]


def test_a_terminated_lock_connection_is_taken_back_and_a_second_daemon_still_refuses(
    postgres_database: str, admin: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=smtp_server.port)
    with start_daemon(postgres_database, config, cwd=tmp_path) as first:
        started(admin, first)
        terminated = terminate_lock_connection(admin)

        wait_for(
            lambda: holder_pid(admin) == first.process.pid,
            what="the daemon to take its lock back",
            timeout=NOTICED,
            daemon=first,
        )
        assert terminated not in lock_backends(admin)
        second = run_monitor(postgres_database, config, "run", cwd=tmp_path, timeout=60)

        assert second.code == 1, second.err
        assert "another monitor daemon holds" in second.err
        assert first.alive()
        assert first.stop() == 0, first.stderr
    assert any("lock" in m and "taken back" in m for m in messages(first)), first.stderr


def test_a_daemon_whose_lock_another_took_stops_acting_and_exits_1(
    postgres_database: str, admin: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=smtp_server.port)
    with start_daemon(postgres_database, config, cwd=tmp_path) as first:
        started(admin, first)
        with admin.connect() as intruder:
            # Someone else is already waiting for the lock, so it is theirs the moment the
            # daemon's connection ends (as a second daemon's could be); named like a daemon.
            name_like_a_daemon(intruder)
            waiting = threading.Thread(
                target=intruder.execute,
                args=(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_KEY}),
            )
            waiting.start()
            wait_for(lambda: lock_waiters(admin) == 1, what="the intruder to queue for the lock")
            terminate_lock_connection(admin)
            waiting.join(timeout=30)
            assert not waiting.is_alive()

            code = first.process.wait(timeout=NOTICED)

        assert code == 1, first.stderr
    logged = messages(first)
    assert any("lost" in m and "pid 4242" in m for m in logged), logged
    assert "Traceback" not in first.stderr
    assert closing_error(first).startswith("error: lost the daemon lock: another monitor daemon")


def lock_waiters(engine: Engine) -> int:
    with engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key "
                "AND NOT granted"
            ),
            {"key": ADVISORY_KEY},
        )
    return int(waiting or 0)


def name_like_a_daemon(connection: Connection) -> None:
    connection.execute(
        text("SELECT set_config('application_name', :name, false)"),
        {"name": "monitor-daemon 4242 20260101T000000Z otherhost"},
    )


def test_a_deleted_sqlite_lock_file_is_taken_back_and_a_second_daemon_still_refuses(
    sqlite_database: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=smtp_server.port)
    engine = make_engine(sqlite_database)
    path = lock_path(engine)
    try:
        with start_daemon(sqlite_database, config, cwd=tmp_path) as first:
            started(engine, first)
            path.unlink()

            wait_for(
                lambda: holder_pid(engine) == first.process.pid,
                what="the daemon to take its lock file back",
                timeout=NOTICED,
                daemon=first,
            )
            second = run_monitor(sqlite_database, config, "run", cwd=tmp_path, timeout=60)

            assert second.code == 1, second.err
            assert "another monitor daemon holds" in second.err
            assert first.alive()
            assert first.stop() == 0, first.stderr
        assert any("lock" in m and "taken back" in m for m in messages(first)), first.stderr
    finally:
        engine.dispose()


def test_a_daemon_whose_lock_file_another_replaced_stops_acting_and_exits_1(
    sqlite_database: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=smtp_server.port)
    engine = make_engine(sqlite_database)
    path = lock_path(engine)
    try:
        with start_daemon(sqlite_database, config, cwd=tmp_path) as first:
            started(engine, first)
            # A new lock file, locked by someone else, put in place of the daemon's in one step.
            replacement = path.with_name(path.name + ".new")
            with replacement.open("w") as intruder:
                fcntl.flock(intruder, fcntl.LOCK_EX | fcntl.LOCK_NB)
                intruder.write("host otherhost, pid 4242, since 2026-01-01T00:00:00+00:00\n")
                intruder.flush()
                os.replace(replacement, path)

                code = first.process.wait(timeout=NOTICED)

            assert code == 1, first.stderr
        logged = messages(first)
        assert any("lost" in m and "pid 4242" in m for m in logged), logged
        assert "Traceback" not in first.stderr
        assert closing_error(first).startswith("error: lost the daemon lock: another monitor")
    finally:
        engine.dispose()
