"""Database faults met by real `monitor` processes (issue 11, items 4 and 11).

Every one ends in one plain line that says what to do, exit 1, no traceback, no SQL and none of
its parameters, and the database as it was. The faults are real: a SQLite file opened read-only,
a disk that is full (a small tmpfs filled to the last byte when the tests run as root; SQLite's
`max_page_count` everywhere), a read-only mount, and a PostgreSQL constraint that refuses a row.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.pool import Pool
from typer.testing import CliRunner

from monitor.cli import app
from monitor.domain.vocabulary import OutboxStatus
from monitor.store.db import make_engine, unit_of_work
from monitor.store.migrate import upgrade
from monitor.store.models import DailyRun, OutboxMessage, Patient
from tests.daemon.conftest import (
    PATIENTS,
    Finished,
    MakeDatabase,
    add_due_patients,
    invoke,
    monitor_command,
    monitor_env,
    run_monitor,
    write_config,
)

SECRET_NAME = "Zedekiah Quillfeather"  # a name that must never reach the terminal or a log


def assert_clean_failure(result: Finished, *words: str) -> None:
    """Exit 1 with one `error:` line holding `words`; nothing of the SQL behind it."""
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    for leak in ("[SQL", "[parameters", "INSERT", "SELECT", "UPDATE", "sqlalche.me", SECRET_NAME):
        assert leak not in result.err, result.err
    assert result.err.startswith("error: "), result.err
    for word in words:
        assert word in result.err, result.err


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Patient, DailyRun, OutboxMessage)
            }
    finally:
        engine.dispose()


def pending(url: str) -> int:
    """Messages queued to go (the cycle's `skipped` decisions are rows too, and not counted)."""
    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            waiting = OutboxMessage.status == OutboxStatus.PENDING
            return session.scalar(select(func.count()).where(waiting)) or 0
    finally:
        engine.dispose()


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return path


# --- read-only ---------------------------------------------------------------------------------


def test_a_read_only_database_file_says_so_and_keeps_every_record(
    sqlite_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{sqlite_file}"
    config = write_config(tmp_path, smtp_port=25)
    add_due_patients(url, config)
    read_only = f"sqlite:///file:{sqlite_file}?mode=ro&uri=true"
    before = counts(url)

    result = run_monitor(
        read_only, config, "patient", "add", "Z9", "--name", SECRET_NAME, cwd=tmp_path
    )

    assert_clean_failure(result, "the database file is read-only", "mode=ro")
    assert counts(url) == before
    assert integrity(sqlite_file) == "ok"
    # Reading a read-only file still works, and `monitor status` pages.
    listed = run_monitor(read_only, config, "overdue", cwd=tmp_path)
    assert listed.code == 0, listed.err
    status = run_monitor(read_only, config, "status", "--json", cwd=tmp_path)
    assert status.code == 1, status.err
    problems = json.loads(status.out)["problems"]
    assert any(
        p.startswith("database writes fail: the database file is read-only") for p in problems
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a file whatever its mode")
def test_a_database_file_the_user_may_not_write_says_so(sqlite_file: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_port=25)
    sqlite_file.chmod(0o444)
    try:
        result = run_monitor(
            f"sqlite:///{sqlite_file}", config, "patient", "add", "Z9", "--name", SECRET_NAME,
            cwd=tmp_path,
        )  # fmt: skip
    finally:
        sqlite_file.chmod(0o644)
    assert_clean_failure(result, "the database file is read-only", str(sqlite_file))


# --- real small disks (root only: mount) -------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder`; skips the test where mounting is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root; max_page_count covers the rest")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk refuses another byte (ENOSPC)."""
    filler = folder / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC
                break
    return filler


def checkpoint(path: Path) -> None:
    """Fold the WAL into the file and truncate it, so the next write must grow the WAL."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_a_full_disk_says_so_keeps_the_database_whole_and_the_cycle_runs_once_space_is_freed(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", "8m") as disk:
        path = disk / "clinic.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        config = write_config(tmp_path, smtp_port=25)
        add_due_patients(url, config)
        checkpoint(path)
        nearly = run_monitor(url, config, "status", "--json", cwd=tmp_path)
        filler = fill(disk)
        full = run_monitor(url, config, "status", cwd=tmp_path)

        result = run_monitor(url, config, "daily", cwd=tmp_path)

        assert nearly.code == 1  # an 8 MiB disk is below the 100 MiB warning
        assert any("MiB free" in problem for problem in json.loads(nearly.out)["problems"])
        assert_clean_failure(full, "the disk is full")

        assert_clean_failure(result, "the disk is full", "free space")
        filler.unlink()
        assert integrity(path) == "ok"
        assert counts(url) == {"patients": len(PATIENTS), "daily_runs": 0, "outbox": 0}
        again = run_monitor(url, config, "daily", cwd=tmp_path)
        assert again.code == 0, again.err
        # One reminder each, the digest, and an escalation each (overdue for more than
        # [chasing] escalate_after_days and never reached).
        assert pending(url) == 2 * len(PATIENTS) + 1


def test_a_read_only_mount_says_so(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "8m") as disk:
        path = disk / "clinic.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        config = write_config(tmp_path, smtp_port=25)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

        result = run_monitor(
            url, config, "patient", "add", "Z9", "--name", SECRET_NAME, cwd=tmp_path
        )

        assert_clean_failure(result, "the database file is read-only", "mounted read-only")


# --- a full database everywhere: SQLite's max_page_count ---------------------------------------


def test_a_database_that_may_not_grow_reports_a_full_disk_and_keeps_the_database_whole(
    sqlite_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{sqlite_file}"
    config = write_config(tmp_path, smtp_port=25)
    add_due_patients(url, config)
    monkeypatch.chdir(tmp_path)

    def no_more_pages(dbapi_connection: Any, _record: Any) -> None:
        # Clamped to the current size: SQLite answers SQLITE_FULL to any page it would add.
        dbapi_connection.execute("PRAGMA max_page_count = 1")

    event.listen(Pool, "connect", no_more_pages)
    try:
        result = CliRunner().invoke(app, ["--database", url, "--config", str(config), "daily"])
    finally:
        event.remove(Pool, "connect", no_more_pages)

    assert isinstance(result.exception, SystemExit), result.exception  # nothing escaped
    assert_clean_failure(
        Finished(result.exit_code, result.stdout, result.stderr), "error: the disk is full:"
    )
    assert counts(url) == {"patients": len(PATIENTS), "daily_runs": 0, "outbox": 0}
    assert integrity(sqlite_file) == "ok"


# --- PostgreSQL refuses a row ------------------------------------------------------------------


def test_a_row_postgresql_refuses_is_reported_without_the_sql_or_its_values(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = make_database()
    if not url.startswith("postgresql"):
        pytest.skip("a constraint added by hand, on PostgreSQL")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            rule = f"CHECK (name <> '{SECRET_NAME}')"
            connection.execute(text(f"ALTER TABLE patients ADD CONSTRAINT house_rule {rule}"))
    finally:
        engine.dispose()
    config = write_config(tmp_path, smtp_port=25)
    invoke(url, config, "patient", "add", "P1", "--name", "Ann Other")

    result = run_monitor(url, config, "patient", "add", "P2", "--name", SECRET_NAME, cwd=tmp_path)

    assert_clean_failure(result, "the database refused the change", "house_rule")
    assert counts(url)["patients"] == 1


# --- logs: a database error's traceback without its SQL ----------------------------------------


def oru(mrn: str) -> str:
    return "\r".join(
        [
            "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1",
            f"PID|1||{mrn}^^^CITY^MR",
            "OBR|1||ACC-C1|58410-2^CBC^LN|||20240212083000",
            "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F",
            "",
        ]
    )


def test_a_database_error_behind_an_mllp_message_is_logged_without_the_sql_or_the_mrn(
    sqlite_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{sqlite_file}"
    config = write_config(tmp_path, smtp_port=25, log_format="json")
    mrn = "RX-SECRET-4711"
    invoke(url, config, "patient", "add", mrn, "--name", SECRET_NAME)
    with contextlib.closing(sqlite3.connect(sqlite_file)) as connection:
        connection.execute("ALTER TABLE patients RENAME TO patients_away")  # the lookup fails

    stderr_path = tmp_path / "listener.stderr"
    with stderr_path.open("wb") as stderr:
        listener = subprocess.Popen(
            monitor_command(url, config, "listen-hl7", "--host", "127.0.0.1", "--port", "0"),
            cwd=tmp_path,
            env=monitor_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert listener.stdout is not None
        port = int(listener.stdout.readline().rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(b"\x0b" + oru(mrn).encode() + b"\x1c\r")
            assert client.recv(1024) == b""  # not stored: no ACK, the connection closed
        listener.terminate()
        listener.wait(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait(timeout=10)
        if listener.stdout is not None:
            listener.stdout.close()

    logged = stderr_path.read_text(encoding="utf-8")
    entries = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    (failure,) = [entry for entry in entries if "not stored" in entry["message"]]
    assert "OperationalError" in failure["exception"]
    assert "Traceback (most recent call last)" in failure["exception"]
    for leak in (mrn, SECRET_NAME, "[parameters", "patients_away", "SELECT"):
        assert leak not in logged, logged


def test_a_read_only_postgresql_database_pages_in_status_and_refuses_writes_plainly(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = make_database()
    if not url.startswith("postgresql"):
        pytest.skip("default_transaction_read_only is PostgreSQL's (a standby behaves the same)")
    config = write_config(tmp_path, smtp_port=25)
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            name = connection.scalar(text("SELECT current_database()"))
            connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            )
    finally:
        engine.dispose()

    added = run_monitor(url, config, "patient", "add", "P2", "--name", SECRET_NAME, cwd=tmp_path)
    status = run_monitor(url, config, "status", "--json", cwd=tmp_path)

    assert_clean_failure(added, "the database is read-only", "primary")
    assert status.code == 1, status.err
    problems = json.loads(status.out)["problems"]
    assert any(p.startswith("database writes fail: the database is read-only") for p in problems)
