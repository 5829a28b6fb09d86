"""`monitor treatment start|stop`: continuous treatments (SPEC §10.3)."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor import clock
from monitor.cli.context import (
    cli_actor,
    parse_date,
    reports_errors,
    state,
)
from monitor.cli.root import command_group
from monitor.services.people.treatments import start_treatment, stop_treatment

treatment_app = command_group(
    "Continuous treatments (a start and maybe a stop).", no_args_is_help=True
)

OnOption = Annotated[str, typer.Option("--on", help="YYYY-MM-DD")]


@treatment_app.command("start")
@reports_errors
def treatment_start(ctx: typer.Context, mrn: str, protocol: str, on: OnOption) -> None:
    """Start a continuous treatment (a courses protocol takes `course add --protocol`)."""
    started_on = parse_date(on, "--on")
    with state(ctx).session() as session:
        start_treatment(
            session,
            mrn=mrn,
            protocol=protocol,
            started_on=started_on,
            actor=cli_actor(),
            now=clock.now_utc(),
        )
    typer.echo(f"started {protocol} for {mrn} on {started_on}")


@treatment_app.command("stop")
@reports_errors
def treatment_stop(
    ctx: typer.Context,
    mrn: str,
    protocol: str,
    on: OnOption,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Stop the open treatment of a continuous protocol (its after-stop tests go on)."""
    stopped_on = parse_date(on, "--on")
    with state(ctx).session() as session:
        stop_treatment(
            session,
            mrn=mrn,
            protocol=protocol,
            stopped_on=stopped_on,
            reason=reason,
            actor=cli_actor(),
            now=clock.now_utc(),
        )
    typer.echo(f"stopped {protocol} for {mrn} on {stopped_on}")


def register(app: typer.Typer) -> None:
    app.add_typer(treatment_app, name="treatment")
