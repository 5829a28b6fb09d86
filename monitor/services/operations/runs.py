"""The daily cycle as a record: when it last ran, whether today's did, what it left undone.

`monitor status` pages on a cycle that has not run by an hour after `clinic.daily_at`, on
patients the last cycle set aside (their data broke it), and on a digest it could not build;
the daemon runs today's cycle at start-up when `daily_run_finished` says it has not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.vocabulary import OutboxStatus
from monitor.services.mail.digest import DIGEST, NOT_BUILT, digest_key
from monitor.store.models import DailyRun, OutboxMessage, Patient

GRACE_AFTER_DAILY = timedelta(hours=1)


@dataclass(frozen=True)
class LastRun:
    """The latest daily cycle; `set_aside` are the MRNs it could not remind, in order."""

    run_on: date
    started_at: datetime
    finished_at: datetime | None
    queued: int
    skipped: int
    errors: int
    set_aside: list[str]


def last_run(session: Session) -> LastRun | None:
    """The daily cycle for the latest date, or None before the first one."""
    run = session.scalar(select(DailyRun).order_by(DailyRun.run_on.desc()).limit(1))
    if run is None:
        return None
    mrns = session.scalars(select(Patient.mrn).where(Patient.id.in_(run.set_aside or [])))
    return LastRun(
        run.run_on,
        run.started_at,
        run.finished_at,
        run.queued,
        run.skipped,
        run.errors,
        sorted(mrns.all()),
    )


def daily_run_finished(session: Session, on: date) -> bool:
    """Whether the daily cycle for clinic date `on` ran to its end."""
    finished = session.scalar(select(DailyRun.finished_at).where(DailyRun.run_on == on))
    return finished is not None


def missing_cycle_problem(session: Session, config: Config, now: datetime) -> str | None:
    """Today's cycle (in the clinic's time zone) has not finished an hour after it was due."""
    zone = ZoneInfo(config.clinic.timezone)
    today = now.astimezone(zone).date()
    due_at = datetime.combine(today, time.fromisoformat(config.clinic.daily_at), zone)
    if not daily_run_finished(session, today) and now > due_at + GRACE_AFTER_DAILY:
        return f"today's daily cycle ({today}) has not run"
    return None


def set_aside_problem(run: LastRun | None) -> str | None:
    """The last cycle could not remind some patients (their data broke it): a person must look."""
    if not run or not run.set_aside:
        return None
    return (
        f"the daily cycle for {run.run_on.isoformat()} set aside {len(run.set_aside)} "
        f"patient(s) ({' '.join(run.set_aside)}): their reminders were not sent; see the log"
    )


def digest_problems(session: Session, run: LastRun | None) -> list[str]:
    """Sites whose digest for the last cycle's day could not be built (and still is not)."""
    if not run:
        return []
    on = run.run_on
    rows = session.execute(
        select(OutboxMessage.site, OutboxMessage.reason).where(
            OutboxMessage.message == DIGEST,
            OutboxMessage.run_on == on,
            OutboxMessage.status == OutboxStatus.SKIPPED,
            OutboxMessage.reason.startswith(NOT_BUILT),
        )
    ).all()
    keys = [digest_key(site or "", on) for site, _ in rows]
    built = set(session.scalars(select(OutboxMessage.dedupe_key).where(
        OutboxMessage.dedupe_key.in_(keys))))  # fmt: skip
    return [
        f"the daily digest for site {site} on {on} could not be built"
        f"{(reason or '').removeprefix(NOT_BUILT)}: see the log"
        for (site, reason), key in zip(rows, keys, strict=True)
        if key not in built
    ]
