"""`monitor db upgrade` and `monitor demo`."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from monitor import clock
from monitor.cli.context import reports_errors, state
from monitor.cli.lists import show_overdue
from monitor.cli.root import command_group
from monitor.config import WebConfig
from monitor.demo import DEMO_DATABASE, DEMO_MAIL_DIR, build_demo_clinic, demo_config
from monitor.notify.transports import FileTransport
from monitor.services.mail.daily import run_daily
from monitor.services.mail.outbox import drain_outbox
from monitor.services.operations.database import upgrade_schema
from monitor.services.schedule.fingerprints import (
    RebuildProgress,
    count_stale_patients,
    rebuild_schedules,
)
from monitor.store.db import make_engine, unit_of_work

db_app = command_group("Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
@reports_errors
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database to the latest revision."""
    app_state = state(ctx)
    engine = app_state.engine(require_schema=False)
    typer.echo(f"database at revision {upgrade_schema(engine)}")
    with unit_of_work(engine) as session:
        stale = count_stale_patients(session, app_state.config.catalogue)
    if stale:
        typer.echo(
            f"the stored schedules of {stale} patient(s) must be recomputed: run "
            "`monitor db rebuild` (`monitor run` also does it when it starts)"
        )


@db_app.command("rebuild")
@reports_errors
def db_rebuild(
    ctx: typer.Context,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0, metavar="<int>", help="processes planning slots (default: one per CPU)"
        ),
    ] = None,
) -> None:
    """Recompute every patient's schedule (run after changing [protocol] in config.toml).

    Commits every 200 patients: if it is stopped, what is done stays done and the rest stays
    stale (commands that read schedules refuse until a rebuild finishes).
    """
    app_state = state(ctx)
    engine = app_state.engine()
    columns = (*Progress.get_default_columns(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("rebuilding schedules", total=None)

        def advance(done: RebuildProgress) -> None:
            progress.update(task, completed=done.done, total=done.total)

        result = rebuild_schedules(
            engine, app_state.config.catalogue, only_stale=False, on_chunk=advance, workers=workers
        )
    typer.echo(f"rebuilt the schedules of {result.done} patient(s)")


@reports_errors
def demo(
    ctx: typer.Context,
    patients: Annotated[int, typer.Option(min=1, max=2000, metavar="<int>")] = 50,
    seed: Annotated[int, typer.Option()] = 2026,
) -> None:
    """Build a synthetic clinic in ./monitor-demo.db, print today's overdue list, run one
    daily cycle, write its emails to ./monitor-demo-mail/ and print the commands that open it
    in the nurses' worklist."""
    app_state = state(ctx)
    config = demo_config(app_state.config)
    path = Path(DEMO_DATABASE)
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    today = clock.today_in(config.clinic.timezone)
    with unit_of_work(engine, config.catalogue) as session:
        count = build_demo_clinic(
            session,
            config.catalogue,
            config.rule_settings,
            today=today,
            now=clock.now_utc(),
            patients=patients,
            seed=seed,
        )
    report = run_daily(engine, on=today, config=config, now=clock.now_utc())
    mail_dir = Path(DEMO_MAIL_DIR)
    shutil.rmtree(mail_dir, ignore_errors=True)
    delivered = drain_outbox(
        engine, FileTransport(mail_dir), now_fn=clock.now_utc, sender=config.email.from_
    )
    typer.echo(f"Demo clinic: {count} synthetic patients in {path.resolve()}")
    typer.echo(f"Overdue list as of {today}:")
    with unit_of_work(engine) as session:
        show_overdue(session, config.catalogue, today, site=None, as_json=False)
    typer.echo(
        f"Daily cycle: {report.queued} email(s) queued, {report.skipped} skipped (no address "
        f"or opted out); {delivered.sent} written as .eml files to {mail_dir.resolve()}"
    )
    engine.dispose()
    given = app_state.config_path
    config_option = "" if given is None else f" --config {shlex.quote(str(given))}"
    _print_next_steps(
        f"{_monitor_command()}{config_option} --database sqlite:///{path}", config.web
    )


def _print_next_steps(on_demo: str, web: WebConfig) -> None:
    """Commands to copy as printed, one per line: the demo clinic on the command line and in
    the nurses' worklist (whose account the first worklist command makes)."""
    typer.echo("\nLook around (one command per line):")
    for command in ("flags", "schedule DEMO0001", "outbox"):
        typer.echo(f"  {on_demo} {command}")
    typer.echo("\nOpen the nurses' worklist on the demo clinic (the first asks for a password):")
    typer.echo(f"  {on_demo} user add demo --role admin")
    typer.echo(f"  {on_demo} serve")
    typer.echo(f"then sign in as demo at http://{web.host}:{web.port} (Ctrl-C stops it).")


def _monitor_command() -> str:
    """`monitor` as this process was called: `monitor` when that name finds this program on
    PATH, else the path it was called by (`.venv/bin/monitor` before the venv is activated)."""
    called = Path(sys.argv[0])
    if called.name != "monitor":
        return "monitor"
    on_path = shutil.which("monitor")
    if on_path is not None and Path(on_path).resolve() == called.resolve():
        return "monitor"
    return shlex.quote(str(called))


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("demo")(demo)
