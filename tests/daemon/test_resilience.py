"""What the daemon relies on when things go wrong, in-process on both backends.

One patient whose data breaks the cycle is set aside and everyone else is still reminded; an SMTP
outage leaves mail pending and retried, and `monitor status` pages once it has lasted an hour;
`monitor status` pages when today's cycle is missing an hour after `daily_at`; JSON logs.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select

from monitor import clock
from monitor.config import Config, LoggingConfig
from monitor.daemon import guarded
from monitor.domain.vocabulary import OutboxStatus
from monitor.log import LIBRARY_LOGGERS, configure_logging
from monitor.notify.registry import PATIENT_MESSAGES
from monitor.notify.transports import make_transport
from monitor.services.mail import daily
from monitor.services.mail.daily import run_daily
from monitor.services.mail.digest import mail_problem
from monitor.services.mail.outbox import DeliveryCounts, drain_outbox
from monitor.store.db import unit_of_work
from monitor.store.models import DailyRun, OutboxMessage, Patient
from tests.conftest import CLINIC_TOML, Cli, clinic_config
from tests.daemon.conftest import DIGEST_TO, PATIENTS, SENDER, SmtpServer

# A November day: London is on UTC, so 07:00Z is the clinic's daily_at.
DAY = date(2026, 11, 27)
AT_DAILY = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def add_patients(cli: Cli, today: date) -> dict[str, int]:
    """PATIENTS with a course 40 days before `today`; returns their ids by MRN."""
    start = (today - timedelta(days=40)).isoformat()
    for mrn, name, email in PATIENTS:
        cli.ok("patient", "add", mrn, "--name", name, "--email", email)
        cli.ok("course", "add", mrn, "--start", start, "--days", "5")
    return ids_by_mrn(cli)


def ids_by_mrn(cli: Cli) -> dict[str, int]:
    from monitor.store.db import make_engine

    engine = make_engine(cli.url)
    try:
        with unit_of_work(engine) as session:
            return {mrn: pid for mrn, pid in session.execute(select(Patient.mrn, Patient.id))}
    finally:
        engine.dispose()


def outbox(engine: Engine) -> list[OutboxMessage]:
    """The messages to deliver (rows recorded as skipped, with their reason, left out)."""
    with unit_of_work(engine) as session:
        query = select(OutboxMessage).where(OutboxMessage.status != OutboxStatus.SKIPPED)
        return list(session.scalars(query.order_by(OutboxMessage.id)))


def status(cli: Cli, at: datetime) -> tuple[int, dict[str, Any]]:
    with freeze_time(at):
        result = cli("status", "--json")
    return result.code, json.loads(result.out)


# --- one patient breaks the cycle ---------------------------------------------------------------


def test_a_patient_whose_data_breaks_the_cycle_is_set_aside_and_the_others_are_reminded(
    engine: Engine,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text(CLINIC_TOML, encoding="utf-8")
    config = clinic_config()
    today = clock.today_in(config.clinic.timezone)
    ids = add_patients(cli, today)
    broken_mrn = PATIENTS[1][0]
    broken = ids[broken_mrn]
    real = daily._queue_for_patient

    def queue_for_patient(session: Any, patient: Patient, *args: Any) -> tuple[int, int]:
        result = real(session, patient, *args)  # its rows are written, then rolled back
        if patient.id == broken:
            raise RuntimeError("unexpected data in a slot")
        return result

    monkeypatch.setattr(daily, "_queue_for_patient", queue_for_patient)
    caplog.set_level(logging.INFO, logger="monitor")

    report = run_daily(engine, on=today, config=config, now=clock.now_utc())

    assert report.set_aside == [broken]
    # the others' reminders, the digest, and an escalation for each (40 days overdue, never
    # reached: the patient set aside too, whose escalation does not go through their reminders)
    assert report.queued == len(PATIENTS) - 1 + 1 + len(PATIENTS)
    rows = outbox(engine)
    reminded = {row.patient_id for row in rows if row.message in PATIENT_MESSAGES}
    assert reminded == set(ids.values()) - {broken}
    assert any(row.recipient == "nurses@clinic.example" for row in rows)  # the digest went on
    with unit_of_work(engine) as session:
        run = session.scalars(select(DailyRun)).one()
        assert (run.errors, run.set_aside, run.finished_at is not None) == (1, [broken], True)

    code, report_json = status(cli, clock.now_utc())
    assert code == 1  # a patient nobody reminds is a page (issue 11 item 1)
    assert report_json["last_daily_run"]["set_aside"] == [broken_mrn]
    assert report_json["last_daily_run"]["errors"] == 1
    assert report_json["problems"] == [
        f"the daily cycle for {today} set aside 1 patient(s) ({broken_mrn}): their reminders "
        "were not sent; see the log"
    ]
    assert f"1 set aside {broken_mrn}" in cli("status").out

    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "monitor.daily"
    assert f"patient_id={broken}" in record.getMessage()
    for _, name, email in PATIENTS:  # never a name or an address, traceback included
        assert name.split()[0] not in caplog.text
        assert email not in caplog.text

    # Once the data is fixed, the next cycle reminds the patient that was set aside.
    monkeypatch.setattr(daily, "_queue_for_patient", real)
    again = run_daily(engine, on=today, config=config, now=clock.now_utc())
    assert (again.queued, again.set_aside) == (1, [])
    assert broken in {row.patient_id for row in outbox(engine)}
    code, report_json = status(cli, clock.now_utc())
    assert (code, report_json["problems"]) == (0, [])


def test_a_failing_job_is_logged_and_the_daemon_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise RuntimeError("database went away")

    guarded("daily cycle", broken)  # does not raise

    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "daily cycle failed (RuntimeError); will try again at the next tick"
    )
    assert "database went away" not in caplog.text  # exception text may carry patient data


# --- an SMTP outage -----------------------------------------------------------------------------


def smtp_config(port: int) -> Config:
    return clinic_config(
        {
            "email": {
                "transport": "smtp",
                "from": SENDER,
                "smtp": {"host": "127.0.0.1", "port": port, "security": "none",
                         "timeout_seconds": 5},
            },
            "staff": {"digest_to": [DIGEST_TO]},
        }
    )  # fmt: skip


def test_an_smtp_outage_leaves_mail_pending_retried_reported_and_delivered_once_it_is_back(
    engine: Engine, cli: Cli, smtp_down: SmtpServer, tmp_path: Path
) -> None:
    (tmp_path / "config.toml").write_text(CLINIC_TOML, encoding="utf-8")
    add_patients(cli, DAY)
    config = smtp_config(smtp_down.port)
    transport = make_transport(config)

    def drain(at: datetime) -> DeliveryCounts:
        return drain_outbox(engine, transport, now_fn=lambda: at, sender=SENDER)

    queued = run_daily(engine, on=DAY, config=config, now=AT_DAILY).queued
    assert queued == 2 * len(PATIENTS) + 1  # reminders, the digest, escalations (issue 14)

    # The server is down: every message goes back to pending, to be retried later.
    assert drain(AT_DAILY) == DeliveryCounts(retried=queued)
    rows = outbox(engine)
    assert {(row.status, row.attempts) for row in rows} == {(OutboxStatus.PENDING, 1)}
    assert all(row.next_attempt_at and row.next_attempt_at > AT_DAILY for row in rows)
    assert all(row.last_error for row in rows)
    assert drain(AT_DAILY + timedelta(seconds=30)) == DeliveryCounts()  # not before its time

    # `monitor status` pages once mail has been failing for over an hour.
    code, report = status(cli, AT_DAILY + timedelta(minutes=30))
    assert (code, report["problems"]) == (0, [])
    assert report["outbox"]["retrying"] == queued
    code, report = status(cli, AT_DAILY + timedelta(minutes=61))
    assert code == 1
    assert report["problems"] == ["email delivery has been failing for over an hour"]
    assert report["outbox"]["pending"] == queued

    # Still down the next morning: that day's digest says so.
    next_day = AT_DAILY + timedelta(days=1)
    with unit_of_work(engine) as session:
        line = mail_problem(session, next_day)
    assert line is not None and f"{queued} message(s) waiting to be retried" in line
    run_daily(engine, on=DAY + timedelta(days=1), config=config, now=next_day)
    (digest,) = [r for r in outbox(engine) if r.run_on == DAY + timedelta(days=1)
                 and r.recipient == DIGEST_TO]  # fmt: skip
    assert "Email delivery had problems" in digest.body_text
    drain(next_day)
    assert smtp_down.mailbox.messages == []

    # The server is back: the next drain delivers everything, each message once.
    smtp_down.start()
    later = next_day + timedelta(hours=1)
    pending = [row for row in outbox(engine) if row.status is OutboxStatus.PENDING]
    assert drain(later) == DeliveryCounts(sent=len(pending))
    assert {row.status for row in outbox(engine)} == {OutboxStatus.SENT}
    delivered = smtp_down.mailbox.parsed()
    assert sorted(m["Message-ID"] for m in delivered) == sorted(r.message_id for r in pending)
    (sent_digest,) = [m for m in delivered if m["Message-ID"] == digest.message_id]
    body = sent_digest.get_body(preferencelist=("plain",))
    assert body is not None and "Email delivery had problems" in body.get_content()

    code, report = status(cli, later + timedelta(minutes=5))
    assert (code, report["problems"], report["outbox"]["pending"]) == (0, [], 0)
    # Once it has recovered, the next digest still says what happened (issue 7).
    with unit_of_work(engine) as session:
        line = mail_problem(session, later)
    assert line is not None and f"{len(pending)} delivered late after retries" in line
    with unit_of_work(engine) as session:
        assert mail_problem(session, later + timedelta(days=2)) is None


# --- today's cycle missing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "missing"),
    [
        (datetime(2026, 11, 27, 7, 59, tzinfo=UTC), False),  # 07:59 GMT: within the hour
        (datetime(2026, 11, 27, 8, 1, tzinfo=UTC), True),  # 08:01 GMT
        (datetime(2026, 7, 1, 6, 59, tzinfo=UTC), False),  # 07:59 BST
        (datetime(2026, 7, 1, 7, 1, tzinfo=UTC), True),  # 08:01 BST: daily_at is local time
    ],
)
def test_status_pages_when_todays_cycle_is_missing_an_hour_after_daily_at(
    cli: Cli, at: datetime, missing: bool, tmp_path: Path
) -> None:
    (tmp_path / "config.toml").write_text(CLINIC_TOML, encoding="utf-8")
    code, report = status(cli, at)

    today = at.astimezone(clock_zone()).date()
    if missing:
        assert code == 1
        assert report["problems"] == [f"today's daily cycle ({today}) has not run"]
    else:
        assert (code, report["problems"]) == (0, [])

    with freeze_time(at):
        cli.ok("daily")
        text = cli("status")
    assert text.code == 0, text.out
    assert text.out.rstrip().endswith("ok")
    code, report = status(cli, at)
    assert (code, report["problems"]) == (0, [])
    assert report["last_daily_run"]["run_on"] == today.isoformat()
    assert report["lock_holder"] is None  # no daemon running


def clock_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(Config().clinic.timezone)


# --- logging ------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging rewires the `monitor`, library and root loggers; put them back."""
    names = ("monitor", "", *(library.name for library in LIBRARY_LOGGERS))
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        for name, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def test_json_logging_writes_one_parseable_object_per_line(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(LoggingConfig(level="INFO", format="json"))

    logging.getLogger("monitor.daemon").info("daily cycle for %s: %d queued", DAY, 4)
    logging.getLogger("monitor.daemon").debug("not at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("monitor.daily").exception("patient_id=%d set aside", 7)
    logging.getLogger("apscheduler.scheduler").warning("job was missed")
    logging.getLogger("apscheduler.scheduler").info("library chatter stays out")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("INFO", "monitor.daemon", "daily cycle for 2026-11-27: 4 queued"),
        ("ERROR", "monitor.daily", "patient_id=7 set aside"),
        ("WARNING", "apscheduler.scheduler", "job was missed"),
    ]
    assert "ValueError (message withheld)" in lines[1]["exception"]
    assert "ValueError: boom" not in lines[1]["exception"]  # its text may carry patient data
    assert datetime.fromisoformat(lines[0]["at"]).tzinfo is not None


def test_text_logging_and_the_configured_level(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(LoggingConfig(level="WARNING", format="text"))

    logging.getLogger("monitor.notify").info("outbox 1 sent")
    logging.getLogger("monitor.notify").warning("outbox 2 will be retried")

    (line,) = stream.getvalue().splitlines()
    assert line.endswith("WARNING monitor.notify: outbox 2 will be retried")
