"""`monitor contact add` and `monitor contact list`: the contact log from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from monitor import clock
from monitor.cli.context import (
    JsonFlag,
    optional_date,
    print_json,
    reports_errors,
    state,
    wide_console,
)
from monitor.cli.root import command_group
from monitor.services.people.contacts import OUTCOMES, ContactView, contact_list, record_contact

contact_app = command_group("The contact log: calls and letters to patients.", no_args_is_help=True)


@contact_app.command("add")
@reports_errors
def contact_add(
    ctx: typer.Context,
    mrn: str,
    outcome: Annotated[str, typer.Option("--outcome", help=" | ".join(OUTCOMES))],
    by: Annotated[str, typer.Option("--by", help="who made the contact")],
    booked_on: Annotated[
        str | None, typer.Option("--booked-on", help="YYYY-MM-DD, today or later (booked only)")
    ] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> None:
    """Record one attempt to reach a patient (audited); `booked` hides them from the overdue
    list until the booked date has passed."""
    app_state = state(ctx)
    booked = optional_date(booked_on, "--booked-on")
    with app_state.session() as session:
        contact = record_contact(
            session,
            mrn=mrn,
            outcome=outcome,
            by=by,
            booked_on=booked,
            note=note,
            actor=by,
            today=app_state.today(),
            now=clock.now_utc(),
        )
    booked_words = f" for {contact.booked_on}" if contact.booked_on else ""
    typer.echo(f"contact {contact.id} recorded: {contact.outcome.value}{booked_words}")


@contact_app.command("list")
@reports_errors
def contact_list_command(ctx: typer.Context, mrn: str, as_json: JsonFlag = False) -> None:
    """A patient's contact log, newest first."""
    with state(ctx).session() as session:
        contacts = contact_list(session, mrn)
    if as_json:
        print_json([contact_json(contact) for contact in contacts])
        return
    table = Table("when (UTC)", "outcome", "by", "booked for", "note", title=f"Contacts of {mrn}")
    for contact in contacts:
        # Text, not markup: a note or a name with "[...]" in it is printed as typed.
        table.add_row(
            contact.contacted_at.strftime("%Y-%m-%d %H:%M"),
            contact.outcome.value,
            Text(contact.contact_by),
            str(contact.booked_on or ""),
            Text(contact.note or ""),
        )
    wide_console().print(table)
    typer.echo(f"{len(contacts)} contact(s)" if contacts else "no contacts recorded")


def contact_json(contact: ContactView | None) -> dict[str, Any] | None:
    """A contact as the JSON outputs carry it (`contact list`, `overdue --json`)."""
    if contact is None:
        return None
    return {
        "id": contact.id,
        "contacted_at": contact.contacted_at.isoformat(),
        "outcome": contact.outcome.value,
        "contact_by": contact.contact_by,
        "booked_on": contact.booked_on,
        "note": contact.note,
    }


def register(app: typer.Typer) -> None:
    app.add_typer(contact_app, name="contact")
