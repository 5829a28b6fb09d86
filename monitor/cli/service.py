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
from monitor.log import configure_logging
from monitor.notify.transports import make_transport
from monitor.store.db import make_engine, unit_of_work
from monitor.store.lock import describe_holder
from monitor.store.migrate import current_revision, head_revision
from monitor.store.models import DailyRun, OutboxMessage, OutboxStatus, Patient

GRACE_AFTER_DAILY = timedelta(hours=1)
MAIL_FAILING_FOR = timedelta(hours=1)
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
    """Health of the service; exits 1 when today's cycle is missing or mail keeps failing."""
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
        }
        report["problems"] = _problems(session, config, report, now)
    return report


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
    failing_since = session.scalar(
        select(func.min(OutboxMessage.created_at)).where(pending, OutboxMessage.attempts > 0)
    )
    failed = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == OutboxStatus.FAILED,
            OutboxMessage.created_at >= now - timedelta(days=1),
        )
    )
    return {
        "pending": backlog,
        "oldest_pending_age_seconds": _age(oldest, now),
        "retrying": retrying or 0,
        "failing_for_seconds": _age(failing_since, now),
        "failed_last_24h": failed or 0,
    }


def _age(since: datetime | None, now: datetime) -> int | None:
    if since is None:
        return None
    if since.tzinfo is None:  # SQLite aggregates come back as naive UTC
        since = since.replace(tzinfo=ZoneInfo("UTC"))
    return int((now - since).total_seconds())


def _problems(session: Session, config: Config, report: dict[str, Any], now: datetime) -> list[str]:
    problems = []
    if report["schema"]["current"] != report["schema"]["head"]:
        problems.append("database schema is not at the latest revision: run `monitor db upgrade`")
    zone = ZoneInfo(config.clinic.timezone)
    today = now.astimezone(zone).date()
    due_at = datetime.combine(today, time.fromisoformat(config.clinic.daily_at), zone)
    finished = session.scalar(select(DailyRun.finished_at).where(DailyRun.run_on == today))
    if finished is None and now > due_at + GRACE_AFTER_DAILY:
        problems.append(f"today's daily cycle ({today}) has not run")
    failing = report["outbox"]["failing_for_seconds"]
    if failing is not None and failing > MAIL_FAILING_FOR.total_seconds():
        problems.append("email delivery has been failing for over an hour")
    return problems


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
        f"outbox: {outbox['pending']} pending (oldest {outbox['oldest_pending_age_seconds']} s), "
        f"{outbox['retrying']} retrying, {outbox['failed_last_24h']} failed in 24 h"
    )
    typer.echo(f"daemon: {report['lock_holder'] or 'not running'}")
    for problem in report["problems"]:
        typer.echo(f"problem: {problem}")
    if not report["problems"]:
        typer.echo("ok")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("status")(status)
