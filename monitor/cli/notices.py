"""`monitor daily` and `monitor patient email`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from monitor import clock
from monitor.cli.context import JsonFlag, as_of, cli_actor, print_json, reports_errors, state
from monitor.cli.records import patient_app
from monitor.errors import InvalidInput
from monitor.services.mail.daily import run_daily
from monitor.services.mail.readiness import reminders_hold
from monitor.services.people.patients import set_email_preference


@reports_errors
def daily(
    ctx: typer.Context,
    as_of_date: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD")] = None,
    as_json: JsonFlag = False,
) -> None:
    """One daily cycle: decide reminders and digests as of a date and queue them."""
    app_state = state(ctx)
    on = as_of(ctx, as_of_date)
    report = run_daily(app_state.engine(), on=on, config=app_state.config, now=clock.now_utc())
    if as_json:
        print_json(
            {
                "run_on": report.run_on,
                "queued": report.queued,
                "skipped": report.skipped,
                "set_aside": len(report.set_aside),
                "held": report.held,
                "already_ran_at": report.already_ran_at,
            }
        )
        return
    typer.echo(
        f"daily cycle for {report.run_on}: {report.queued} message(s) queued, "
        f"{report.skipped} skipped; `monitor send` delivers them"
    )
    if (hold := reminders_hold(app_state.config)) is not None:
        typer.echo(f"warning: {hold} ({report.held} patient(s) waiting)", err=True)
    if report.already_ran_at is not None:
        typer.echo(already_ran(report.already_ran_at))


def already_ran(finished_at: datetime) -> str:
    """Said when a cycle for the date had run (or was running beside this one) already."""
    return (
        f"this date's cycle already ran (finished {finished_at.isoformat(timespec='seconds')}); "
        "this run queued only what was new"
    )


@patient_app.command("email")
@reports_errors
def patient_email(
    ctx: typer.Context,
    mrn: str,
    set_address: Annotated[str | None, typer.Option("--set", help="new email address")] = None,
    opt_out: Annotated[bool, typer.Option("--opt-out", help="no more emails")] = False,
    opt_in: Annotated[bool, typer.Option("--opt-in", help="emails again")] = False,
) -> None:
    """Set a patient's email address, or opt them out of (or back into) email."""
    if opt_out and opt_in:
        raise InvalidInput("give --opt-out or --opt-in, not both")
    if set_address is None and not opt_out and not opt_in:
        raise InvalidInput("give --set ADDRESS, --opt-out or --opt-in")
    preference = True if opt_out else (False if opt_in else None)
    with state(ctx).session() as session:
        patient = set_email_preference(
            session,
            mrn=mrn,
            address=set_address,
            opt_out=preference,
            actor=cli_actor(),
            now=clock.now_utc(),
        )
        summary = "opted out" if patient.email_opted_out else "emails on"
    typer.echo(f"{mrn}: {summary}")


def register(app: typer.Typer) -> None:
    app.command("daily")(daily)
