"""`monitor run` as the real process: start-up, the daily cycle, the lock, status, SIGTERM.

Each test starts `python -m monitor ... run` against a database of its own (SQLite file, or a
dedicated PostgreSQL database) and a real SMTP server (aiosmtpd) in this process.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from hl7.client import MLLPClient
from sqlalchemy import Engine, func, select

from monitor.domain.vocabulary import OutboxStatus
from monitor.store.db import make_engine, unit_of_work
from monitor.store.lock import describe_holder
from monitor.store.migrate import alembic_config
from monitor.store.models import OutboxMessage
from tests.daemon.conftest import (
    DIGEST_TO,
    PATIENTS,
    URGENT_TO,
    MakeDatabase,
    SmtpServer,
    add_due_patients,
    clinic_today,
    free_port,
    run_monitor,
    start_daemon,
    wait_for,
    write_config,
)

# Starting Python and importing everything takes a few seconds on a busy machine; once started,
# the daemon must do its work "within seconds" (the default `wait_for` timeout, 20 s).
STARTUP = 60

HOLDER = re.compile(r"host \S+, pid (\d+), since \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00")


def outbox_counts(engine: Engine) -> dict[OutboxStatus, int]:
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    return {status: count for status, count in rows}


def test_the_daemon_runs_todays_cycle_delivers_the_mail_and_stops_on_sigterm(
    database: str, db_engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=smtp_server.port, log_format="json")
    add_due_patients(database, config)
    today = clinic_today()
    expected = {email for _, _, email in PATIENTS} | {DIGEST_TO}

    with start_daemon(database, config, cwd=tmp_path) as daemon:
        wait_for(
            lambda: describe_holder(db_engine), what="start-up", timeout=STARTUP, daemon=daemon
        )
        wait_for(
            lambda: {str(m["To"]) for m in smtp_server.mailbox.parsed()} >= expected,
            what="the patients' reminders and the digest at the SMTP server",
            daemon=daemon,
        )
        wait_for(
            lambda: set(outbox_counts(db_engine)) - {OutboxStatus.SKIPPED} == {OutboxStatus.SENT},
            what="every outbox row recorded as sent (or skipped, with its reason)",
            daemon=daemon,
        )
        status = run_monitor(database, config, "status", "--json", cwd=tmp_path)
        assert status.code == 0, status.err
        report = json.loads(status.out)

        started = time.monotonic()
        code = daemon.stop(timeout=10)
        assert time.monotonic() - started < 10
        assert code == 0, daemon.stderr

    messages = smtp_server.mailbox.parsed()
    # one email per patient, one digest, nothing twice; and one staff-escalation per patient
    # (40 days overdue, never reached: issue 14) to the clinicians
    escalations = [m for m in messages if m["To"] == URGENT_TO]
    assert len(escalations) == len(PATIENTS)
    assert len(messages) == len(expected) + len(escalations)
    assert len({m["Message-ID"] for m in messages}) == len(messages)
    digest = next(m for m in messages if m["To"] == DIGEST_TO)
    body = digest.get_body(preferencelist=("plain",))
    assert body is not None
    assert all(mrn in body.get_content() for mrn, _, _ in PATIENTS)

    run = report["last_daily_run"]
    assert run["run_on"] == today.isoformat()
    assert run["finished_at"] is not None
    assert run["queued"] == len(expected) + len(escalations)
    assert (run["errors"], run["set_aside"]) == (0, [])
    holder = HOLDER.fullmatch(report["lock_holder"] or "")
    assert holder is not None, report["lock_holder"]
    assert int(holder[1]) == daemon.process.pid
    assert report["outbox"]["pending"] == 0
    assert report["schema"]["current"] == report["schema"]["head"]
    assert report["problems"] == []

    # [logging] format = "json": every line is an object; no name or email address in any.
    lines = daemon.log_lines()
    assert {"at", "level", "logger", "message"} <= set(lines[0])
    messages_logged = [line["message"] for line in lines]
    assert any(f"daily cycle for {today}" in m for m in messages_logged), messages_logged
    assert any("stopping" in m for m in messages_logged)
    assert messages_logged[-1] == "daemon stopped"
    for _, name, email in PATIENTS:
        assert name not in daemon.stderr
        assert name.split()[0] not in daemon.stderr
        assert email not in daemon.stderr

    assert describe_holder(db_engine) is None  # released at exit


def test_a_second_daemon_on_the_same_database_refuses_to_start(
    database: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, smtp_port=smtp_server.port)
    engine = make_engine(database)
    try:
        with start_daemon(database, config, cwd=tmp_path) as first:
            wait_for(
                lambda: describe_holder(engine),
                what="the first daemon's lock",
                timeout=STARTUP,
                daemon=first,
            )

            second = run_monitor(database, config, "run", cwd=tmp_path, timeout=30)

            assert second.code == 1, second.err
            holder = HOLDER.search(second.err)
            assert holder is not None, second.err
            assert int(holder[1]) == first.process.pid
            assert "another monitor daemon holds" in second.err
            assert first.alive()  # the first one carries on
            assert first.stop() == 0, first.stderr
    finally:
        engine.dispose()


def test_a_second_daemon_refused_by_the_lock_never_takes_the_hl7_feed(
    database: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The listener starts only under the lock: the second daemon fails on the lock (naming the
    holder), not on the port, and the first one's listener still answers the lab."""
    port = free_port()
    hl7 = f'[hl7]\nlisten = true\nhost = "127.0.0.1"\nport = {port}\n'
    config = write_config(tmp_path, smtp_port=smtp_server.port, extra=hl7)
    engine = make_engine(database)
    try:
        with start_daemon(database, config, cwd=tmp_path) as first:
            wait_for(lambda: describe_holder(engine), what="the first daemon's lock",
                     timeout=STARTUP, daemon=first)  # fmt: skip

            second = run_monitor(database, config, "run", cwd=tmp_path, timeout=30)

            assert second.code == 1, second.err
            assert "another monitor daemon holds" in second.err
            assert "cannot listen" not in second.err
            with MLLPClient("127.0.0.1", port) as client:
                ack = client.send_message(ORU).decode("utf-8")
            assert "MSA|A" in ack  # answered (AR: no such patient) by the first daemon
            assert first.stop() == 0, first.stderr
    finally:
        engine.dispose()


ORU = (
    "\r".join(
        [
            "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1",
            "PID|1||NOBODY^^^CITY^MR",
            "OBR|1||ACC-C1|58410-2^CBC^LN|||20240212083000",
            "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F",
        ]
    )
    + "\r"
)


# --- start-up checks ----------------------------------------------------------------------------


def test_a_database_behind_the_latest_migration_is_refused_naming_the_fix(
    make_database: MakeDatabase, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    head = scripts.get_revision(scripts.get_current_head())
    assert head is not None and isinstance(head.down_revision, str)
    database = make_database(head.down_revision)
    config = write_config(tmp_path, smtp_port=smtp_server.port)

    result = run_monitor(database, config, "run", cwd=tmp_path, timeout=30)

    assert result.code == 1
    assert "monitor db upgrade" in result.err
    assert smtp_server.mailbox.messages == []


def test_an_unreachable_database_gives_up_after_the_startup_timeout(tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_port=25)
    started = time.monotonic()

    result = run_monitor(
        "postgresql://postgres@127.0.0.1:1/x",
        config,
        "run",
        cwd=tmp_path,
        timeout=30,
        MONITOR_STARTUP_TIMEOUT="2",
    )

    assert result.code == 1
    assert "error: cannot reach the database after 2 s" in result.err
    assert "retrying" in result.err  # it did retry, with backoff, before giving up
    assert time.monotonic() - started < 50  # not the 60 s default


def test_a_bad_startup_timeout_is_bad_input(tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_port=25)
    url = f"sqlite:///{tmp_path / 'never.db'}"

    result = run_monitor(url, config, "run", cwd=tmp_path, MONITOR_STARTUP_TIMEOUT="soon")

    assert result.code == 2
    assert "MONITOR_STARTUP_TIMEOUT" in result.err


def test_a_bad_config_key_stops_it_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_port=25, extra="\n[reminders]\ndays_befor_due = 3\n")
    url = f"sqlite:///{tmp_path / 'never.db'}"

    result = run_monitor(url, config, "run", cwd=tmp_path)

    assert result.code == 2
    assert "reminders.days_befor_due" in result.err
    assert "unknown key" in result.err
    assert not (tmp_path / "never.db").exists()  # it never half-started
