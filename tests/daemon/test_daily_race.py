"""Two daily cycles for one date at once (issue 11, item 4), as real `monitor daily` processes.

On PostgreSQL both used to find no run record for the date, both inserted one, and the second
died on the unique key with a traceback that printed the SQL parameters. The test lines the two
up at that insert: it holds the run table locked until both processes wait for it, then lets go.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from monitor.domain.vocabulary import OutboxStatus
from monitor.store.db import make_engine, unit_of_work
from monitor.store.models import DailyRun, OutboxMessage
from tests.daemon.conftest import (
    PATIENTS,
    MakeDatabase,
    add_due_patients,
    clinic_today,
    monitor_command,
    monitor_env,
    wait_for,
    write_config,
)

WAITING_ON_THE_RUN_TABLE = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND query ILIKE '%daily_runs%'"
)


@pytest.fixture
def postgres_database(make_database: MakeDatabase) -> str:
    url = make_database()
    if not url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): no two cycles interleave")
    return url


def start_daily(url: str, config: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        monitor_command(url, config, "daily"),
        cwd=cwd,
        env=monitor_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def waiting(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(WAITING_ON_THE_RUN_TABLE) or 0)


def test_two_daily_cycles_racing_for_one_date_queue_one_set_and_both_end_cleanly(
    postgres_database: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=25)
    add_due_patients(postgres_database, config)
    engine = make_engine(postgres_database)
    try:
        with engine.connect() as gate:
            gate.execute(text("LOCK TABLE daily_runs IN EXCLUSIVE MODE"))  # reads pass, writes wait
            runs = [start_daily(postgres_database, config, tmp_path) for _ in range(2)]
            try:
                wait_for(lambda: waiting(engine) == 2, what="both cycles at the run record",
                         timeout=120)  # fmt: skip
            finally:
                gate.rollback()
            finished = [run.communicate(timeout=120) for run in runs]

        for run, (_out, err) in zip(runs, finished, strict=True):
            assert run.returncode == 0, err
            assert "Traceback" not in err
            assert "[parameters:" not in err and "SQL:" not in err
        outputs = " ".join(out for out, _ in finished)
        assert "already ran" in outputs, outputs
        with unit_of_work(engine) as session:
            queued = session.scalar(
                select(func.count()).where(OutboxMessage.status == OutboxStatus.PENDING)
            )
            (run_record,) = session.scalars(select(DailyRun)).all()
        # one reminder each, one digest and one escalation each (40 days overdue), once
        assert queued == 2 * len(PATIENTS) + 1
        # (the lower steps each cycle decided not to send are `skipped` rows, also only once)
        assert run_record.run_on == clinic_today()
        assert run_record.finished_at is not None
    finally:
        engine.dispose()
