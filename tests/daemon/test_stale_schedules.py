"""A `[protocol]` change and `monitor run`: the real daemon rebuilds the stale schedules at
start-up, chunk by chunk with progress in its log, before its first daily cycle; killed in the
middle (kill -9), it leaves what it committed and the rest stale, and the next start continues.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, func, select, text

from monitor.config import Config, parse_config
from monitor.services.mail.outbox import queue_email
from monitor.services.people import courses, patients
from monitor.services.schedule.fingerprints import REBUILD_CHUNK, count_stale_patients
from monitor.store.db import unit_of_work
from monitor.store.models import DailyRun, Slot, Treatment
from tests.daemon.conftest import (
    PATIENTS,
    Daemon,
    SmtpServer,
    add_due_patients,
    clinic_today,
    run_monitor,
    start_daemon,
    wait_for,
    write_config,
)

STARTUP = 60
# TSH every month instead of every 3: a monthly TSH slot appears beside the monthly blood tests.
TSH_MONTHLY = "\n[protocol.panels.tsh]\nevery_months = 1\n"
OLD = Config().catalogue
NEW = parse_config({"protocol": {"panels": {"tsh": {"every_months": 1}}}}).catalogue


def messages(daemon: Daemon) -> list[str]:
    return [line["message"] for line in daemon.log_lines()]


def first_index(lines: list[str], start: str) -> int:
    return next(n for n, line in enumerate(lines) if line.startswith(start))


def daily_run_finished(engine: Engine, on: date) -> bool:
    with unit_of_work(engine) as session:
        return session.scalar(select(DailyRun.finished_at).where(DailyRun.run_on == on)) is not None


def test_the_daemon_rebuilds_stale_schedules_before_its_first_cycle(
    database: str, db_engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=smtp_server.port)
    add_due_patients(database, config)  # stored under the default protocol
    config = write_config(tmp_path, smtp_port=smtp_server.port, extra=TSH_MONTHLY)
    mrn = PATIENTS[0][0]
    today = clinic_today()

    refused = run_monitor(database, config, "schedule", mrn, cwd=tmp_path)
    assert refused.code == 1
    assert "monitor db rebuild" in refused.err
    status = run_monitor(database, config, "status", "--json", cwd=tmp_path)
    assert status.code == 1
    assert json.loads(status.out)["schedules"] == {"stale_patients": len(PATIENTS)}

    with start_daemon(database, config, cwd=tmp_path) as daemon:
        wait_for(
            lambda: daily_run_finished(db_engine, today),
            what="the first daily cycle",
            timeout=STARTUP,
            daemon=daemon,
        )
        assert daemon.stop() == 0, daemon.stderr

    lines = messages(daemon)
    found = first_index(lines, f"schedules of {len(PATIENTS)} patient(s) were computed from")
    progress = first_index(lines, f"schedules rebuilt: {len(PATIENTS)} of {len(PATIENTS)}")
    finished = first_index(lines, f"schedule rebuild finished: {len(PATIENTS)} patient(s)")
    cycle = first_index(lines, f"daily cycle for {today}")
    assert found < progress < finished < cycle, lines

    # The cycle ran (it refuses stale slots) on what the rebuild had committed before it.
    with unit_of_work(db_engine) as session:
        assert count_stale_patients(session, NEW) == 0
    shown = run_monitor(database, config, "schedule", mrn, "--json", cwd=tmp_path)
    assert shown.code == 0, shown.err
    tsh_due = [s["due_on"] for s in json.loads(shown.out)["slots"] if s["panel"] == "tsh"]
    assert len(tsh_due) > 40  # monthly for 48 months (every 3 months would be 16 + baseline)


# --- killed in the middle -----------------------------------------------------------------------

NOW = datetime(2024, 1, 1, tzinfo=UTC)
MANY = 3 * REBUILD_CHUNK


def add_many_patients(engine: Engine, count: int) -> None:
    """Patients without an email address, stored under the default protocol (fast, in-process)."""
    first = clinic_today() - timedelta(days=400)
    with unit_of_work(engine, OLD) as session:
        for n in range(count):
            mrn = f"K{n:04d}"
            patients.add_patient(
                session, mrn=mrn, name=f"Patient {n}", email=None, born_on=None, sex=None,
                site="main", actor="test", now=NOW,
            )  # fmt: skip
            courses.add_course(
                session,
                mrn=mrn,
                infused_on=[first + timedelta(days=d) for d in range(5)],
                actor="test",
                now=NOW,
            )


def tsh_recurring_dates(session, patient_id: int) -> list[date]:
    rows = session.scalars(
        select(Slot.due_on)
        .where(Slot.patient_id == patient_id, Slot.panel == "tsh", Slot.kind == "recurring")
        .order_by(Slot.due_on)
        .limit(2)
    )
    return list(rows)


def assert_each_patient_is_whole(engine: Engine) -> int:
    """Every patient's slots are entirely from the protocol its fingerprint names; returns how
    many carry the new one."""
    last_on = clinic_today() - timedelta(days=400) + timedelta(days=4)
    old_dates = [last_on + relativedelta(months=3), last_on + relativedelta(months=6)]
    new_dates = [last_on + relativedelta(months=1), last_on + relativedelta(months=2)]
    new, old = NEW.fingerprint("alemtuzumab"), OLD.fingerprint("alemtuzumab")
    rebuilt = 0
    with unit_of_work(engine) as session:
        stamps = select(Treatment.patient_id, Treatment.schedule_fingerprint)
        for patient_id, stamp in session.execute(stamps):
            assert stamp in (new, old)
            expected = new_dates if stamp == new else old_dates
            assert tsh_recurring_dates(session, patient_id) == expected
            rebuilt += stamp == new
    return rebuilt


def test_a_rebuild_killed_in_the_middle_stays_stale_and_the_next_start_continues(
    database: str, db_engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    add_many_patients(db_engine, MANY)
    config = write_config(tmp_path, smtp_port=smtp_server.port, extra=TSH_MONTHLY)
    today = clinic_today()
    # On PostgreSQL, hold the last patient's row: the daemon's last chunk waits for it, so the
    # kill certainly lands in the middle. (SQLite has no row locks: there it usually does.)
    on_postgres = db_engine.dialect.name == "postgresql"
    holder = db_engine.connect()
    if on_postgres:
        holder.execute(text("SELECT id FROM patients ORDER BY id DESC LIMIT 1 FOR UPDATE"))
    kill_after = f"{MANY - REBUILD_CHUNK} of {MANY}" if on_postgres else f"of {MANY}"
    try:
        with start_daemon(database, config, cwd=tmp_path, name="first") as first:
            wait_for(
                lambda: any(
                    m.startswith("schedules rebuilt: ") and kill_after in m for m in messages(first)
                ),
                what="a chunk committed",
                timeout=STARTUP,
                daemon=first,
            )
            logged = [m for m in messages(first) if m.startswith("schedules rebuilt: ")]
            first.process.kill()
            first.process.wait(timeout=10)
    finally:
        holder.rollback()
        holder.close()

    committed = int(logged[-1].split()[2])  # "schedules rebuilt: 100 of 300 patients"
    rebuilt = assert_each_patient_is_whole(db_engine)
    assert rebuilt >= committed  # what it logged as done was committed
    with unit_of_work(db_engine) as session:
        stale = count_stale_patients(session, NEW)
        assert session.scalar(select(func.count()).select_from(DailyRun)) == 0  # no cycle yet
    assert stale == MANY - rebuilt
    if on_postgres:
        assert stale == REBUILD_CHUNK  # the blocked last chunk, rolled back whole
    refused = run_monitor(database, config, "overdue", cwd=tmp_path)
    assert refused.code == 1 and "monitor db rebuild" in refused.err

    with start_daemon(database, config, cwd=tmp_path, name="second") as second:
        wait_for(
            lambda: daily_run_finished(db_engine, today),
            what="the daily cycle after the rebuild",
            timeout=STARTUP,
            daemon=second,
        )
        assert second.stop() == 0, second.stderr

    lines = messages(second)
    if stale:
        found = first_index(lines, f"schedules of {stale} patient(s) were computed from")
        finished = first_index(lines, f"schedule rebuild finished: {stale} patient(s)")
        assert found < finished < first_index(lines, f"daily cycle for {today}"), lines
    assert assert_each_patient_is_whole(db_engine) == MANY
    assert run_monitor(database, config, "overdue", cwd=tmp_path).code == 0


def test_the_outbox_drains_while_the_start_up_rebuild_runs(
    database: str, db_engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """An urgent flag's email queued before the start must not wait for a long rebuild; the
    daily cycle does. PostgreSQL only: a held row lock keeps the rebuild from finishing."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("needs a row lock to hold the rebuild in the middle")
    add_many_patients(db_engine, 2 * REBUILD_CHUNK)
    with unit_of_work(db_engine) as session:
        queue_email(
            session, message="staff-urgent-flag", recipient="clinicians@clinic.example",
            subject="Urgent result", body_text="An urgent result needs review.", body_html=None,
            calendar=None, dedupe_key="test:urgent", now=NOW, mail_domain="clinic.example",
        )  # fmt: skip
    config = write_config(tmp_path, smtp_port=smtp_server.port, extra=TSH_MONTHLY)
    holder = db_engine.connect()
    holder.execute(text("SELECT id FROM patients ORDER BY id DESC LIMIT 1 FOR UPDATE"))
    try:
        with start_daemon(database, config, cwd=tmp_path) as daemon:
            wait_for(
                lambda: smtp_server.mailbox.messages,
                what="the urgent email during the rebuild",
                timeout=STARTUP,
                daemon=daemon,
            )
            assert not any(m.startswith("schedule rebuild finished") for m in messages(daemon))
            with unit_of_work(db_engine) as session:
                assert session.scalar(select(func.count()).select_from(DailyRun)) == 0
            holder.rollback()  # the rebuild goes on, then today's cycle
            wait_for(
                lambda: daily_run_finished(db_engine, clinic_today()),
                what="the daily cycle after the rebuild",
                timeout=STARTUP,
                daemon=daemon,
            )
            assert daemon.stop() == 0, daemon.stderr
    finally:
        holder.rollback()
        holder.close()
    lines = messages(daemon)
    assert first_index(lines, "schedule rebuild finished") < first_index(lines, "daily cycle for")
