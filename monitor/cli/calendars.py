"""`monitor patient calendar MRN [--revoke]`: a patient's private live-calendar link, on the
`patient` group (registered from here so `cli/records.py` stays as it is)."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor import clock
from monitor.cli.context import cli_actor, reports_errors, state
from monitor.cli.records import patient_app
from monitor.services.access.calendars import (
    calendar_path,
    issue_calendar,
    revoke_calendar,
    site_url,
)


@reports_errors
def patient_calendar(
    ctx: typer.Context,
    mrn: str,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="end the link (it then answers 404)")
    ] = False,
) -> None:
    """Print a new private calendar URL for the patient (the old one stops working)."""
    app_state = state(ctx)
    with app_state.session() as session:
        if revoke:
            revoke_calendar(session, mrn, actor=cli_actor(), now=clock.now_utc())
        else:
            token = issue_calendar(session, mrn, actor=cli_actor(), now=clock.now_utc())
    if revoke:
        typer.echo(f"calendar link of {mrn.strip()} revoked")
        return
    typer.echo(site_url(app_state.config) + calendar_path(token))


def register(app: typer.Typer) -> None:
    patient_app.command("calendar")(patient_calendar)
