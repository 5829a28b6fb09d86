"""`monitor run` (the daemon) and `monitor status` (for people and for monitoring systems)."""

from __future__ import annotations

import math
import os
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor import clock
from monitor.adapters.mllp import Hl7Listener
from monitor.cli.context import AppState, print_json, reports_errors, state
from monitor.config import Config, ConfigError
from monitor.daemon import STARTUP_TIMEOUT_SECONDS, Daemon
from monitor.domain.vocabulary import OutboxStatus
from monitor.log import configure_logging
from monitor.notify.transports import make_transport
from monitor.services.mail.digest import DIGEST, NOT_BUILT, digest_key, failed_since
from monitor.services.mail.readiness import reminders_hold
from monitor.services.mail.unconfirmed import count_unconfirmed, unconfirmed_problem
from monitor.services.schedule.fingerprints import count_stale_patients
from monitor.store.db import make_engine, unit_of_work
from monitor.store.health import database_problems
from monitor.store.lock import describe_holder
from monitor.store.migrate import current_revision, head_revision
from monitor.store.models import DailyRun, OutboxMessage, Patient

GRACE_AFTER_DAILY = timedelta(hours=1)
MAIL_FAILING_FOR = timedelta(hours=1)
FAILED_WITHIN = timedelta(days=1)
STARTUP_TIMEOUT_VARIABLE = "MONITOR_STARTUP_TIMEOUT"


@reports_errors
def run(ctx: typer.Context) -> None:
    """Run the service: the daily cycle at clinic.daily_at, the outbox every minute."""
    app_state = state(ctx)
    config = app_state.config
    timeout = startup_timeout()
    transport = make_transport(config)  # a transport it cannot build: exit 2 before starting
    configure_logging(config.logging)
    engine = make_engine(app_state.url)
    listener = hl7_listener(engine, app_state) if config.hl7.listen else None
    try:
        if listener is not None:
            listener.start()
        Daemon(config, engine, transport, startup_timeout=timeout).run()
    finally:
        if listener is not None:
            listener.stop()
        engine.dispose()


def hl7_listener(engine: Engine, app_state: AppState) -> Hl7Listener:
    """`[hl7] listen = true`: the daemon also takes HL7 results over MLLP (issue 5)."""
    config = app_state.config
    return Hl7Listener(
        engine,
        config,
        config.hl7.host,
        config.hl7.port,
        now_fn=clock.now_utc,
        today_fn=app_state.today,
    )


def startup_timeout() -> float:
    """How long `monitor run` waits for the database at start: $MONITOR_STARTUP_TIMEOUT seconds."""
    value = os.environ.get(STARTUP_TIMEOUT_VARIABLE)
    if value is None or not value.strip():
        return STARTUP_TIMEOUT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{STARTUP_TIMEOUT_VARIABLE} {value!r} is not a number of seconds >= 0")
    return seconds


@reports_errors
def status(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Health of the service; exits 1 when a problem is listed: today's cycle missing or setting
    patients aside, mail failing, a digest not built, or placeholders in config.toml."""
    app_state = state(ctx)
    report = service_status(app_state)
    if as_json:
        print_json(report)
    else:
        _print_status(report)
    if report["problems"]:
        raise typer.Exit(1)


def service_status(app_state: AppState) -> dict[str, Any]:
    config, engine = app_state.config, app_state.engine(require_schema=False)
    now = clock.now_utc()
    with unit_of_work(engine) as session:
        report: dict[str, Any] = {
            "schema": {"current": current_revision(engine), "head": head_revision(engine)},
            "last_daily_run": _last_run(session),
            "outbox": _outbox(session, now),
            "lock_holder": describe_holder(engine),
            "unconfigured": config.unconfigured_keys,
        }
        report["schedules"] = _schedules(session, config, report)
        report["problems"] = _problems(session, config, report, now) + _schedule_problems(report)
    report["problems"] += database_problems(engine)
    return report


def _schedules(session: Session, config: Config, report: dict[str, Any]) -> dict[str, Any]:
    """How many patients' stored slots were computed from another protocol (None: the schema
    is too old to tell)."""
    if report["schema"]["current"] != report["schema"]["head"]:
        return {"stale_patients": None}
    return {"stale_patients": count_stale_patients(session, config.monitoring_protocol)}


def _schedule_problems(report: dict[str, Any]) -> list[str]:
    stale = report["schedules"]["stale_patients"]
    if not stale:
        return []
    return [
        f"the stored schedules of {stale} patient(s) were computed from a different [protocol] "
        "than the configuration's: run `monitor db rebuild` (`monitor run` also does it when it "
        "starts; restart it if config.toml changed since)"
    ]


def _last_run(session: Session) -> dict[str, Any] | None:
    run = session.scalar(select(DailyRun).order_by(DailyRun.run_on.desc()).limit(1))
    if run is None:
        return None
    set_aside = run.set_aside or []
    mrns = session.scalars(select(Patient.mrn).where(Patient.id.in_(set_aside))).all()
    return {
        "run_on": run.run_on.isoformat(),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "queued": run.queued,
        "skipped": run.skipped,
        "errors": run.errors,
        "set_aside": sorted(mrns),
    }


def _outbox(session: Session, now: datetime) -> dict[str, Any]:
    pending = OutboxMessage.status == OutboxStatus.PENDING
    backlog = session.scalar(select(func.count()).where(pending)) or 0
    oldest = session.scalar(select(func.min(OutboxMessage.created_at)).where(pending))
    retrying = session.scalar(select(func.count()).where(pending, OutboxMessage.attempts > 0))
    first_failure = func.coalesce(OutboxMessage.first_failed_at, OutboxMessage.created_at)
    failing_since = session.scalar(
        select(func.min(first_failure)).where(pending, OutboxMessage.attempts > 0)
    )
    failed = _failed_by_kind(session, now)
    return {
        "pending": backlog,
        "oldest_pending_age_seconds": _age(oldest, now),
        "retrying": retrying or 0,
        "failing_for_seconds": _age(failing_since, now),
        "failed_last_24h": sum(failed.values()),
        "failed_last_24h_by_kind": failed,
        "unconfirmed": count_unconfirmed(session),
    }


def _failed_by_kind(session: Session, now: datetime) -> dict[str, int]:
    """Messages marked failed for good in the last day, per message kind."""
    rows = session.execute(
        select(OutboxMessage.message, func.count())
        .where(OutboxMessage.status == OutboxStatus.FAILED, failed_since(now - FAILED_WITHIN))
        .group_by(OutboxMessage.message)
        .order_by(OutboxMessage.message)
    )
    return {message: count for message, count in rows}


def _age(since: datetime | None, now: datetime) -> int | None:
    if since is None:
        return None
    if since.tzinfo is None:  # SQLite aggregates come back as naive UTC
        since = since.replace(tzinfo=ZoneInfo("UTC"))
    return int((now - since).total_seconds())


def _problems(session: Session, config: Config, report: dict[str, Any], now: datetime) -> list[str]:
    """Every reason to page, each from its own check, in a stable order."""
    found = [
        _schema_problem(report),
        _missing_cycle_problem(session, config, now),
        _set_aside_problem(report),
        *_digest_problems(session, report),
        _mail_failing_problem(report),
        _failed_mail_problem(report),
        unconfirmed_problem(session),
        reminders_hold(config),
    ]
    return [problem for problem in found if problem is not None]


def _schema_problem(report: dict[str, Any]) -> str | None:
    if report["schema"]["current"] == report["schema"]["head"]:
        return None
    return "database schema is not at the latest revision: run `monitor db upgrade`"


def _missing_cycle_problem(session: Session, config: Config, now: datetime) -> str | None:
    zone = ZoneInfo(config.clinic.timezone)
    today = now.astimezone(zone).date()
    due_at = datetime.combine(today, time.fromisoformat(config.clinic.daily_at), zone)
    finished = session.scalar(select(DailyRun.finished_at).where(DailyRun.run_on == today))
    if finished is None and now > due_at + GRACE_AFTER_DAILY:
        return f"today's daily cycle ({today}) has not run"
    return None


def _set_aside_problem(report: dict[str, Any]) -> str | None:
    """The last cycle could not remind some patients (their data broke it): a person must look."""
    run = report["last_daily_run"]
    if not run or not run["set_aside"]:
        return None
    return (
        f"the daily cycle for {run['run_on']} set aside {len(run['set_aside'])} patient(s) "
        f"({' '.join(run['set_aside'])}): their reminders were not sent; see the log"
    )


def _digest_problems(session: Session, report: dict[str, Any]) -> list[str]:
    """Sites whose digest for the last cycle's day could not be built (and still is not)."""
    run = report["last_daily_run"]
    if not run:
        return []
    on = datetime.fromisoformat(run["run_on"]).date()
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


def _mail_failing_problem(report: dict[str, Any]) -> str | None:
    failing = report["outbox"]["failing_for_seconds"]
    if failing is not None and failing > MAIL_FAILING_FOR.total_seconds():
        return "email delivery has been failing for over an hour"
    return None


def _failed_mail_problem(report: dict[str, Any]) -> str | None:
    """Any message the mail server refused for good in the last day, named by kind."""
    by_kind = report["outbox"]["failed_last_24h_by_kind"]
    if not by_kind:
        return None
    kinds = ", ".join(f"{count} {kind}" for kind, count in by_kind.items())
    return (
        f"emails failed for good in the last 24 hours: {kinds}; "
        "see `monitor outbox` for the server's reply"
    )


def _print_status(report: dict[str, Any]) -> None:
    run, outbox = report["last_daily_run"], report["outbox"]
    typer.echo(f"schema: {report['schema']['current']} (latest {report['schema']['head']})")
    if run:
        typer.echo(
            f"last daily run: {run['run_on']} finished {run['finished_at'] or '-'}; "
            f"{run['queued']} queued, {run['skipped']} skipped, {run['errors']} set aside "
            f"{' '.join(run['set_aside'])}"
        )
    else:
        typer.echo("last daily run: never")
    typer.echo(
        f"outbox: {outbox['pending']} pending{_oldest(outbox['oldest_pending_age_seconds'])}, "
        f"{outbox['retrying']} retrying, {outbox['failed_last_24h']} failed in 24 h"
    )
    typer.echo(f"daemon: {report['lock_holder'] or 'not running'}")
    if report["schedules"]["stale_patients"] is not None:
        typer.echo(f"schedules: {report['schedules']['stale_patients']} patient(s) stale")
    for problem in report["problems"]:
        typer.echo(f"problem: {problem}")
    if not report["problems"]:
        typer.echo("ok")


def _oldest(age_seconds: int | None) -> str:
    return "" if age_seconds is None else f" (oldest {age_seconds} s)"


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("status")(status)
