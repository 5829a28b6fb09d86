"""`monitor run`: the long-lived service (SPEC §6).

APScheduler only ticks; everything that says what is due lives in the database, so a restart,
a missed day or a second process can never change what gets sent:

* the stored schedules rebuilt at start-up, before any daily cycle, when some were computed
  from another protocol than the configuration's (chunked, committing as it goes, progress
  logged), and again before each daily cycle in case a process with another configuration
  wrote some; the outbox drains meanwhile (an urgent flag's email does not wait for it);
* the daily cycle at `clinic.daily_at` in `clinic.timezone`, and once at start-up when today's
  has not run (whatever the time of day);
* the outbox drained every minute and right after each daily cycle;
* the services beside the jobs (the MLLP listener, with `[hl7] listen`) started only once the
  daemon holds its database's lock, so a second daemon refused by the lock never listens;
* the daemon lock confirmed every LOCK_CHECK_SECONDS and before each job acts: a lock that went
  away (its PostgreSQL connection ended, its SQLite lock file was deleted) is taken back; a lock
  another process holds now stops the daemon, exit 1, without acting again.

Jobs live in memory, are registered in code at every start with fixed ids, `coalesce=True`,
`misfire_grace_time=None` (a late tick still runs, once) and `max_instances=1`. SIGTERM and
SIGINT stop the scheduler; the job in hand finishes its current item and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from types import FrameType
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from monitor import clock
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.notify.sms import SmsTransport
from monitor.notify.transports import Transport
from monitor.services.mail.daily import run_daily
from monitor.services.mail.outbox import (
    claim_batch,
    default_owner,
    deliver_claimed,
    drained_channels,
)
from monitor.services.mail.readiness import reminders_hold
from monitor.services.operations import runs
from monitor.services.schedule.fingerprints import count_stale_patients, rebuild_schedules
from monitor.store.db import unit_of_work
from monitor.store.faults import describe_database_error, error_summary
from monitor.store.lock import DaemonLock, LockLost, daemon_lock
from monitor.store.schema_version import is_at_head

log = logging.getLogger("monitor.daemon")

DRAIN_BATCH = 5
LOCK_CHECK_SECONDS = 10
STARTUP_TIMEOUT_SECONDS = 60.0


class Beside(Protocol):
    """A service the daemon runs beside its jobs (the MLLP listener): started only once the
    daemon holds its database's lock, so a second daemon never takes the first one's feed."""

    def start(self) -> object: ...

    def stop(self) -> None: ...


class Daemon:
    """The scheduler, its two jobs, and a stop flag that every loop checks."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        transport: Transport,
        *,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        beside: Sequence[Beside] = (),
        sms: SmsTransport | None = None,
    ) -> None:
        self.config = config
        self.sms = sms  # text messages drain beside emails; letters wait for `monitor letters`
        self.beside = beside
        self.engine = engine
        self.transport = transport
        self.startup_timeout = startup_timeout
        self.stopping = threading.Event()
        self.cycle_lock = threading.Lock()  # the start-up and the cron cycle never overlap
        self.lock: DaemonLock | None = None
        self.lost: LockLost | None = None
        self._stop_once = threading.Lock()
        self.owner = default_owner()
        self.zone = ZoneInfo(config.clinic.timezone)
        self.scheduler = BlockingScheduler(
            timezone=self.zone,
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )

    def run(self) -> None:
        """Check the database, take the lock, tick until a signal arrives."""
        self._handle_signals()  # a signal during start-up stops it cleanly too
        wait_for_database(self.engine, self.startup_timeout, self.stopping)
        if self.stopping.is_set():
            log.info("stopped before starting")
            return
        if not is_at_head(self.engine):
            raise MonitorError(
                "the database is not at the latest schema revision; run `monitor db upgrade`"
            )
        with daemon_lock(self.engine, clock.now_utc()) as lock:
            self.lock = lock
            log.info("daemon started (%s)", lock.holder)
            with self._running_beside():
                self._register_jobs()
                self.scheduler.start()
        if self.lost is not None:
            raise self.lost  # exit 1: systemd restarts it, and the restart names the holder
        log.info("daemon stopped")

    @contextmanager
    def _running_beside(self) -> Iterator[None]:
        """Start the services beside the jobs (under the lock); stop those started, at exit."""
        started: list[Beside] = []
        try:
            for service in self.beside:
                service.start()
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                service.stop()

    def _rebuild_stale_schedules(self) -> None:
        """Bring every stored schedule to the configured protocol; stops between chunks on a
        signal (what is done stays done; the next start continues with the rest)."""
        protocol = self.config.catalogue
        with unit_of_work(self.engine) as session:
            stale = count_stale_patients(session, protocol)
        if not stale:
            return
        log.info(
            "schedules of %d patient(s) were computed from another protocol: rebuilding", stale
        )
        done = rebuild_schedules(
            self.engine,
            protocol,
            only_stale=True,
            on_chunk=lambda p: log.info("schedules rebuilt: %d of %d patients", p.done, p.total),
            should_stop=self.stopping.is_set,
        )
        if self.stopping.is_set():
            log.info("schedule rebuild stopped after %d of %d patients", done.done, done.total)
        else:
            log.info("schedule rebuild finished: %d patient(s)", done.done)

    def _register_jobs(self) -> None:
        self.scheduler.add_job(
            self.schedules_job, id="schedules-at-start", next_run_time=clock.now_utc()
        )
        self.scheduler.add_job(
            self.daily_job,
            daily_trigger(self.config.clinic.daily_at, self.zone),
            id="daily",
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.drain_job,
            IntervalTrigger(minutes=1, timezone=self.zone),
            id="outbox",
            replace_existing=True,
            next_run_time=clock.now_utc(),
        )
        self.scheduler.add_job(
            self.lock_job,
            IntervalTrigger(seconds=LOCK_CHECK_SECONDS, timezone=self.zone),
            id="lock",
            replace_existing=True,
        )
        if not daily_run_finished(self.engine, self.today()):
            self.scheduler.add_job(
                self.daily_job,
                id="daily-at-start",
                replace_existing=True,
                next_run_time=clock.now_utc(),
            )

    def _handle_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            if self.stopping.is_set():
                return  # a second signal (Ctrl-C twice, `timeout` signalling the group)
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self.stopping.set()
            self._shutdown()

        def started(_event: SchedulerEvent) -> None:
            # A signal that arrived while the scheduler was starting found nothing to stop.
            if self.stopping.is_set():
                self._shutdown()

        self.scheduler.add_listener(started, EVENT_SCHEDULER_STARTED)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _shutdown(self, *, wait: bool = True) -> None:
        """Stop ticking; waits for the job in hand, which checks the stop flag between items."""
        if self.scheduler.state == STATE_STOPPED:
            return
        # Once: a signal and a lost lock at the same moment must not wait for each other.
        if self._stop_once.acquire(blocking=False):
            self.scheduler.shutdown(wait=wait)

    def lock_job(self) -> None:
        guarded("lock check", self.holds_lock)

    def holds_lock(self) -> bool:
        """Confirm the daemon lock before acting; False (and the daemon stopping) if it is lost.

        A database error propagates: the job in hand does not act, and the next tick tries again.
        """
        assert self.lock is not None
        try:
            if self.lock.confirm():
                log.warning(
                    "the daemon lock went away (its database connection ended or its lock file "
                    "was removed) and was taken back"
                )
            return True
        except LockLost as lost:
            if self.lost is None:
                self.lost = lost
                log.error("%s; stopping without acting again", lost)
            self.stopping.set()
            # From a job's thread: waiting would wait for this very job.
            self._shutdown(wait=False)
            return False

    def today(self) -> date:
        return clock.today_in(self.config.clinic.timezone)

    def schedules_job(self) -> None:
        """At start-up: stale schedules rebuilt before any daily cycle (both take the cycle
        lock, and a cycle rebuilds first whichever gets it first), while the outbox drains."""
        guarded("schedule rebuild", self._rebuild_before_cycles)

    def _rebuild_before_cycles(self) -> None:
        with self.cycle_lock:
            if not self.stopping.is_set():
                self._rebuild_stale_schedules()

    def daily_job(self) -> None:
        """One daily cycle for today, then deliver what it queued."""
        guarded("daily cycle", self._daily)

    def _daily(self) -> None:
        with self.cycle_lock:
            self._rebuild_stale_schedules()
            if self.stopping.is_set() or not self.holds_lock():
                return
            report = run_daily(
                self.engine, on=self.today(), config=self.config, now=clock.now_utc()
            )
            log.info(
                "daily cycle for %s: %d queued, %d skipped, %d set aside%s",
                report.run_on,
                report.queued,
                report.skipped,
                len(report.set_aside),
                "" if report.already_ran_at is None else " (it had already run today)",
            )
            if (hold := reminders_hold(self.config)) is not None:
                log.warning("%s (%d patient(s) waiting)", hold, report.held)
        self._drain()

    def drain_job(self) -> None:
        guarded("outbox drain", self._drain)

    def _drain(self) -> None:
        """Deliver in small batches, checking the stop flag between them."""
        sender = self.config.email.from_
        while not self.stopping.is_set() and self.holds_lock():
            ids = claim_batch(
                self.engine,
                now=clock.now_utc(),
                owner=self.owner,
                limit=DRAIN_BATCH,
                channels=drained_channels(self.sms),
            )
            if not ids:
                return
            counts = deliver_claimed(
                self.engine,
                ids,
                self.transport,
                now_fn=clock.now_utc,
                owner=self.owner,
                sender=sender,
                sms=self.sms,
            )
            log.info("outbox: %d sent, %d to retry, %d failed", counts.sent, counts.retried,
                     counts.failed)  # fmt: skip


class OncePerDayTrigger(CronTrigger):  # type: ignore[misc]
    """A cron time of day that fires at most once per local calendar date.

    CronTrigger fires twice on the autumn DST day when the time falls in the repeated hour
    (01:30 in Europe/London); the second firing is skipped here. In the spring gap CronTrigger
    already fires once, an hour later on the wall clock.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if fire is None or previous_fire_time is None:
            return fire
        fired_on = previous_fire_time.astimezone(self.timezone).date()
        if fire.astimezone(self.timezone).date() != fired_on:
            return fire
        next_day = datetime.combine(fired_on + timedelta(days=1), clock_time(0), self.timezone)
        # From the next local midnight (with a previous time, CronTrigger starts from it).
        later: datetime | None = super().get_next_fire_time(None, next_day)
        return later


def daily_trigger(daily_at: str, zone: ZoneInfo) -> OncePerDayTrigger:
    """`clinic.daily_at` ("HH:MM") every day in the clinic's time zone, once per local date."""
    hour, minute = (int(part) for part in daily_at.split(":"))
    return OncePerDayTrigger(hour=hour, minute=minute, timezone=zone)


def guarded(what: str, job: Callable[[], object]) -> None:
    """Run a job; an error is logged (no patient data) and the daemon carries on."""
    try:
        job()
    except Exception as error:
        log.error("%s failed (%s); will try again at the next tick", what, error_summary(error))


def daily_run_finished(engine: Engine, on: date) -> bool:
    with unit_of_work(engine) as session:
        return runs.daily_run_finished(session, on)


def wait_for_database(engine: Engine, timeout: float, stopping: threading.Event) -> None:
    """Retry with backoff for up to `timeout` seconds, then give up with a clear message.

    Returns early, without an error, when `stopping` is set (a signal during start-up).
    """
    deadline, delay = time.monotonic() + timeout, 0.5
    while not stopping.is_set():
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as error:
            if time.monotonic() + delay > deadline:
                fault = describe_database_error(error, engine.url.render_as_string())
                raise MonitorError(
                    f"cannot reach the database after {timeout:g} s: {fault}"
                ) from None
            log.warning("database not reachable yet; retrying in %.1f s", delay)
            stopping.wait(delay)
            delay = min(delay * 2, 10.0)
