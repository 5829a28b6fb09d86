"""`monitor run` (the daemon) and `monitor status` (for people and for monitoring systems)."""

from __future__ import annotations

import math
import os
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from monitor import clock
from monitor.adapters.mllp import Hl7Listener
from monitor.cli.context import AppState, print_json, reports_errors, state
from monitor.config import ConfigError
from monitor.daemon import STARTUP_TIMEOUT_SECONDS, Daemon
from monitor.log import configure_logging
from monitor.notify.gov_notify import make_sms_transport
from monitor.notify.transports import make_transport
from monitor.services.mail.health import MailHealth
from monitor.services.operations.runs import LastRun
from monitor.services.operations.status import service_status
from monitor.store.db import make_engine

STARTUP_TIMEOUT_VARIABLE = "MONITOR_STARTUP_TIMEOUT"


@reports_errors
def run(ctx: typer.Context) -> None:
    """Run the service: the daily cycle at clinic.daily_at, the outbox every minute."""
    app_state = state(ctx)
    config = app_state.config
    timeout = startup_timeout()
    transport = make_transport(config)  # a transport it cannot build: exit 2 before starting
    sms = make_sms_transport(config)  # [sms] enabled without its API key: exit 2 too
    configure_logging(config.logging)
    engine = make_engine(app_state.url)
    beside = [hl7_listener(engine, app_state)] if config.hl7.listen else []
    try:
        Daemon(config, engine, transport, startup_timeout=timeout, beside=beside, sms=sms).run()
    finally:
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
    report = status_report(app_state)
    if as_json:
        print_json(report)
    else:
        _print_status(report)
    if report["problems"]:
        raise typer.Exit(1)


def status_report(app_state: AppState) -> dict[str, Any]:
    """The report as `--json` prints it (its keys are a stable contract, SPEC §7)."""
    report = service_status(
        app_state.engine(require_schema=False), app_state.config, clock.now_utc()
    )
    return {
        "schema": {"current": report.schema.current, "head": report.schema.head},
        "last_daily_run": _last_run_json(report.last_run),
        "outbox": _outbox_json(report.mail),
        "lock_holder": report.lock_holder,
        "unconfigured": report.unconfigured,
        "schedules": {"stale_patients": report.stale_patients},
        "problems": report.problems,
    }


def _last_run_json(run: LastRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_on": run.run_on.isoformat(),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "queued": run.queued,
        "skipped": run.skipped,
        "errors": run.errors,
        "set_aside": run.set_aside,
    }


def _outbox_json(mail: MailHealth) -> dict[str, Any]:
    return {
        "pending": mail.pending,
        "oldest_pending_age_seconds": mail.oldest_pending_age_seconds,
        "retrying": mail.retrying,
        "failing_for_seconds": mail.failing_for_seconds,
        "failed_last_24h": mail.failed,
        "failed_last_24h_by_kind": mail.failed_by_kind,
        "unconfirmed": mail.unconfirmed,
    }


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
