"""When the daemon runs the daily cycle: once per local day across DST, and once after downtime."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from monitor import clock
from monitor.daemon import Daemon, daily_trigger
from monitor.domain.vocabulary import OutboxStatus
from monitor.services.mail.digest import DIGEST
from monitor.store.db import unit_of_work
from monitor.store.lock import daemon_lock
from monitor.store.models import DailyRun, OutboxMessage
from tests.conftest import Cli, clinic_config
from tests.daemon.conftest import PATIENTS

LONDON = ZoneInfo("Europe/London")


def fire_times(daily_at: str, start: datetime, end: datetime) -> list[datetime]:
    """The daily trigger's firings between two instants, stepped as the scheduler steps it."""
    trigger = daily_trigger(daily_at, LONDON)
    fires: list[datetime] = []
    previous, now = None, start
    while (fire := trigger.get_next_fire_time(previous, now)) is not None and fire < end:
        fires.append(fire)
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)
    return fires


@pytest.mark.parametrize("daily_at", ["00:30", "01:00", "01:30", "01:59", "02:30", "07:00"])
@pytest.mark.parametrize(
    "transition", [date(2026, 3, 29), date(2026, 10, 25)], ids=["spring", "autumn"]
)
def test_the_daily_cycle_fires_once_per_local_day_across_dst(
    daily_at: str, transition: date
) -> None:
    start = datetime.combine(transition - timedelta(days=3), time(12), LONDON)
    fires = fire_times(daily_at, start, start + timedelta(days=6))

    days = Counter(fire.astimezone(LONDON).date() for fire in fires)
    expected = {transition + timedelta(days=n) for n in range(-2, 4)}
    assert set(days) == expected
    assert set(days.values()) == {1}, fires
    # Away from the transition day, it fires at daily_at on the wall clock.
    hour, minute = (int(part) for part in daily_at.split(":"))
    for fire in fires:
        local = fire.astimezone(LONDON)
        if local.date() != transition:
            assert (local.hour, local.minute) == (hour, minute)


class Collect:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def test_after_five_days_down_the_start_runs_one_cycle_for_today(engine: Engine, cli: Cli) -> None:
    config = clinic_config()
    today = clock.today_in(config.clinic.timezone)
    start = (today - timedelta(days=40)).isoformat()
    for mrn, name, email in PATIENTS:
        cli.ok("patient", "add", mrn, "--name", name, "--email", email)
        cli.ok("course", "add", mrn, "--start", start, "--days", "5")
    last = today - timedelta(days=5)
    with unit_of_work(engine) as session:
        at = datetime.combine(last, time(7), UTC)
        session.add(DailyRun(run_on=last, started_at=at, finished_at=at))
    transport = Collect()
    daemon = Daemon(config, engine, transport)

    daemon._register_jobs()
    jobs = {job.id for job in daemon.scheduler.get_jobs()}
    assert jobs == {"schedules-at-start", "daily", "outbox", "lock", "daily-at-start"}
    with daemon_lock(engine, clock.now_utc()) as lock:
        daemon.lock = lock  # as `run` does
        daemon.daily_job()  # what "daily-at-start" runs

    with unit_of_work(engine) as session:
        runs = session.scalars(select(DailyRun.run_on).order_by(DailyRun.run_on)).all()
        rows = session.scalars(select(OutboxMessage)).all()
    assert runs == [last, today]  # one cycle for today, none for the days missed
    digests = [row for row in rows if row.message == DIGEST]
    assert [row.run_on for row in digests] == [today]
    sends = [row for row in rows if row.status is not OutboxStatus.SKIPPED]
    per_patient = Counter((row.patient_id, row.message) for row in sends if row.patient_id)
    assert set(per_patient.values()) == {1}  # at most one email of each kind per patient
    assert len(transport.sent) == len(sends)  # and the drain right after delivered them

    # Started again later the same day: today's cycle is done, so no start-up run.
    again = Daemon(config, engine, transport)
    again._register_jobs()
    assert {job.id for job in again.scheduler.get_jobs()} == {
        "schedules-at-start",
        "daily",
        "outbox",
        "lock",
    }
