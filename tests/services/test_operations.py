"""The service's own health: the daily cycle's record, the schema and the database, and the
`monitor status` report put together from them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from monitor.domain.vocabulary import OutboxStatus
from monitor.services.mail.digest import NOT_BUILT, digest_key
from monitor.services.operations.database import (
    daemon_holder,
    describe_fault,
    error_summary,
    schema_is_current,
    schema_revision,
    upgrade_schema,
    write_problems,
)
from monitor.services.operations.runs import (
    LastRun,
    daily_run_finished,
    digest_problems,
    last_run,
    missing_cycle_problem,
    set_aside_problem,
)
from monitor.services.operations.status import service_status
from monitor.services.people.patients import add_patient
from monitor.store.db import unit_of_work
from monitor.store.models import DailyRun, Patient
from tests.conftest import clinic_config
from tests.services.test_mail_health import add_row

CONFIG = clinic_config({"clinic": {"timezone": "UTC", "daily_at": "07:00"}})
DAY = date(2026, 3, 20)
STARTED = datetime(2026, 3, 20, 7, tzinfo=UTC)


def add_run(engine: Engine, on: date, *, finished: bool, set_aside: tuple[str, ...] = ()) -> None:
    with unit_of_work(engine) as session:
        for mrn in set_aside:
            add_patient(session, mrn=mrn, name="Pat Test", email=None, born_on=None, sex="F",
                        site="main", actor="test", now=STARTED)  # fmt: skip
        session.flush()
        ids = [session.query(Patient.id).filter_by(mrn=mrn).scalar() for mrn in set_aside]
        start = datetime.combine(on, STARTED.timetz())
        end = start + timedelta(minutes=2) if finished else None
        session.add(DailyRun(run_on=on, started_at=start, finished_at=end, queued=3, skipped=1,
                             errors=len(ids), set_aside=ids))  # fmt: skip


# --- runs ---------------------------------------------------------------------------------------


def test_last_run_is_the_latest_date_with_its_set_aside_mrns_in_order(engine: Engine) -> None:
    add_run(engine, DAY - timedelta(days=1), finished=True)
    add_run(engine, DAY, finished=True, set_aside=["M2", "M1"])
    with unit_of_work(engine) as session:
        run = last_run(session)
    assert run == LastRun(DAY, STARTED, STARTED + timedelta(minutes=2), 3, 1, 2, ["M1", "M2"])
    assert set_aside_problem(run) == (
        "the daily cycle for 2026-03-20 set aside 2 patient(s) (M1 M2): their reminders were "
        "not sent; see the log"
    )


def test_no_run_yet_is_none_and_pages_on_nothing_of_its_own(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        assert last_run(session) is None
        assert digest_problems(session, None) == []
    assert set_aside_problem(None) is None


def test_daily_run_finished_only_once_the_cycle_ended(engine: Engine) -> None:
    add_run(engine, DAY - timedelta(days=1), finished=True)
    add_run(engine, DAY, finished=False)
    with unit_of_work(engine) as session:
        assert daily_run_finished(session, DAY - timedelta(days=1))
        assert not daily_run_finished(session, DAY)
        assert not daily_run_finished(session, DAY + timedelta(days=1))


def test_a_missing_cycle_pages_an_hour_after_it_was_due(engine: Engine) -> None:
    due = datetime(2026, 3, 20, 7, tzinfo=UTC)
    with unit_of_work(engine) as session:
        assert missing_cycle_problem(session, CONFIG, due + timedelta(minutes=59)) is None
        assert missing_cycle_problem(session, CONFIG, due + timedelta(minutes=61)) == (
            "today's daily cycle (2026-03-20) has not run"
        )
    add_run(engine, DAY, finished=True)
    with unit_of_work(engine) as session:
        assert missing_cycle_problem(session, CONFIG, due + timedelta(hours=3)) is None


def test_a_digest_not_built_pages_until_a_later_cycle_builds_it(engine: Engine) -> None:
    add_run(engine, DAY, finished=True)
    add_row(engine, f"{digest_key('north', DAY)}:skipped:not-built", OutboxStatus.SKIPPED,
            message="staff-daily-digest", site="north", run_on=DAY, attempts=0,
            reason=f"{NOT_BUILT} (KeyError)")  # fmt: skip
    with unit_of_work(engine) as session:
        problems = digest_problems(session, last_run(session))
    assert problems == [
        "the daily digest for site north on 2026-03-20 could not be built (KeyError): see the log"
    ]
    add_row(engine, digest_key("north", DAY), OutboxStatus.PENDING,
            message="staff-daily-digest", site="north", run_on=DAY, attempts=0)  # fmt: skip
    with unit_of_work(engine) as session:
        assert digest_problems(session, last_run(session)) == []


# --- database -----------------------------------------------------------------------------------


def test_a_migrated_database_is_current_writable_and_free(engine: Engine) -> None:
    revision = schema_revision(engine)
    assert revision.current is not None and revision.current == revision.head
    assert schema_is_current(engine)
    assert upgrade_schema(engine) == revision.head  # nothing left to do: stays at the head
    assert write_problems(engine) == []
    assert daemon_holder(engine) is None


def test_database_errors_are_described_without_their_text(engine: Engine) -> None:
    with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
        connection.execute(text("SELECT * FROM no_such_table WHERE mrn = 'M-SECRET'"))
    fault, summary = describe_fault(caught.value), error_summary(caught.value)
    assert fault.what and "M-SECRET" not in str(fault)
    assert summary == f"{type(caught.value).__name__}: {fault.what}"
    assert error_summary(ValueError("M-SECRET")) == "ValueError"


# --- the status report --------------------------------------------------------------------------


def test_service_status_of_a_healthy_clinic_has_no_problem(engine: Engine) -> None:
    add_run(engine, DAY, finished=True)
    report = service_status(engine, CONFIG, STARTED + timedelta(hours=2))
    assert report.schema == schema_revision(engine)
    assert report.last_run is not None and report.last_run.run_on == DAY
    assert (report.mail.pending, report.lock_holder, report.stale_patients) == (0, None, 0)
    assert (report.unconfigured, report.problems) == ([], [])


def test_service_status_lists_problems_in_their_order(engine: Engine) -> None:
    add_run(engine, DAY - timedelta(days=1), finished=True, set_aside=["M1"])
    add_row(engine, "failed", OutboxStatus.FAILED, attempts=5,
            failed_at=STARTED)  # fmt: skip
    report = service_status(engine, CONFIG, STARTED + timedelta(hours=2))
    assert report.problems == [
        "today's daily cycle (2026-03-20) has not run",
        "the daily cycle for 2026-03-19 set aside 1 patient(s) (M1): their reminders were not "
        "sent; see the log",
        "emails failed for good in the last 24 hours: 1 patient-tests-due; see `monitor outbox` "
        "for the server's reply",
    ]
