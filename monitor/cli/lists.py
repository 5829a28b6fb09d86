"""`monitor schedule` and `monitor overdue`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from monitor import clock
from monitor.cli.contacts import contact_json
from monitor.cli.context import (
    JsonFlag,
    as_of,
    print_json,
    reports_errors,
    state,
    warn,
    wide_console,
)
from monitor.domain.catalogue import Catalogue
from monitor.domain.fields import SITE_LENGTH, checked_line
from monitor.services.results.feeds import late_feeds, patients_served_by
from monitor.services.schedule.chasing import ChaseRow, chase_list
from monitor.services.schedule.view import patient_schedule

STATUS_STYLES = {
    "done": "green",
    "late": "yellow",
    "due": "bold cyan",
    "overdue": "bold red",
    "missed": "red",
    "waived": "dim",
    "cancelled": "dim",
    "upcoming": "",
}


@reports_errors
def schedule(
    ctx: typer.Context,
    mrn: str,
    as_of_date: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A patient's slots with their status as of a date (default today)."""
    app_state = state(ctx)
    on = as_of(ctx, as_of_date)
    with app_state.session(current_schedules=True) as session:
        today = app_state.today()
        view = patient_schedule(session, mrn, on, app_state.config.catalogue, today)
    slots = [_slot_json(slot) for slot in view.slots]
    if as_json:
        print_json({"mrn": view.mrn, "monitoring_end": view.monitoring_end, "slots": slots})
        return
    table = Table(
        "due", "protocol", "panel", "window", "course", "kind", "status", title=f"{mrn} as of {on}"
    )
    for slot in slots:
        style = STATUS_STYLES[slot["status"]]
        status = slot["status"] + (
            f" (missing {', '.join(slot['missing'])})" if "missing" in slot else ""
        )
        table.add_row(
            str(slot["due_on"]),
            slot["protocol"],
            slot["panel"],
            f"{slot['window_start']}..{slot['window_end']}",
            "-" if slot["course"] is None else str(slot["course"]),
            slot["kind"],
            f"[{style}]{status}[/{style}]" if style else status,
        )
    wide_console().print(table)
    typer.echo(f"monitoring ends {view.monitoring_end or '-'}")


def _slot_json(slot: Any) -> dict[str, Any]:
    data = {
        "protocol": slot.protocol,
        "treatment": slot.treatment,
        "panel": slot.panel,
        "due_on": slot.due_on,
        "window_start": slot.window_start,
        "window_end": slot.window_end,
        "course": slot.course,
        "kind": slot.kind,
        "status": slot.status.value,
    }
    if slot.missing:
        data["missing"] = list(slot.missing)
    return data


@reports_errors
def overdue(
    ctx: typer.Context,
    as_of_date: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD")] = None,
    site: Annotated[str | None, typer.Option("--site")] = None,
    include_booked: Annotated[
        bool,
        typer.Option(
            "--include-booked", help="also list patients booked for a test on the date or later"
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The nurses' list: every overdue slot of every active patient, most overdue first.

    A patient whose last contact booked them for the date or later is left out (counted at the
    end) until the day after the booked date; --include-booked lists them with `booked_on`."""
    app_state = state(ctx)
    on = as_of(ctx, as_of_date)
    site = checked_line(site, "--site", SITE_LENGTH) if site is not None else None
    with app_state.session(current_schedules=True) as session:
        quiet = late_feeds(session, app_state.config, clock.now_utc())
        feed_late = patients_served_by(session, [feed.source for feed in quiet])
        show_overdue(
            session,
            app_state.config.catalogue,
            on,
            site,
            as_json,
            feed_late,
            include_booked=include_booked,
        )
    for feed in quiet:
        warn(feed.describe())


def show_overdue(
    session: Session,
    catalogue: Catalogue,
    on: date,
    site: str | None,
    as_json: bool,
    feed_late: frozenset[int] | set[int] = frozenset(),
    *,
    include_booked: bool = False,
) -> None:
    """The overdue list as JSON or a table; `feed_late` marks patients whose lab feed is quiet."""
    listed = chase_list(session, on, catalogue, site, feed_late, include_booked=include_booked)
    if as_json:
        print_json([_overdue_json(row) for row in listed.rows])
        return
    table = Table(
        "MRN",
        "site",
        "protocol",
        "panel",
        "due",
        "days overdue",
        "missed",
        "open flag",
        "phone",
        "last contact",
        title=f"Overdue as of {on}",
    )
    for row in listed.rows:
        r = row.slot
        alert = r.open_alert or ""
        table.add_row(
            r.mrn,
            r.site,
            r.protocol,
            r.panel,
            str(r.due_on),
            str(r.days_overdue),
            str(r.missed) + (" (results feed late)" if r.feed_late else ""),
            f"[bold red]{alert.upper()}[/bold red]" if alert else "",
            Text(row.reach.phone or ""),
            Text(_last_words(row)),
        )
    wide_console().print(table)
    typer.echo(f"{len(listed.rows)} overdue" if listed.rows else "nothing overdue")
    if listed.hidden_patients:
        typer.echo(
            f"{listed.hidden_patients} patient(s) booked for a test, hidden (--include-booked)"
        )


def _overdue_json(row: ChaseRow) -> dict[str, Any]:
    """SPEC §7's overdue row; issue 14 added `phone`, `last_contact` and `booked_on`."""
    r = row.slot
    return {
        "mrn": r.mrn,
        "site": r.site,
        "protocol": r.protocol,
        "treatment": r.treatment,
        "panel": r.panel,
        "due_on": r.due_on,
        "days_overdue": r.days_overdue,
        "missed": r.missed,
        "open_alert": r.open_alert,
        "feed_late": r.feed_late,
        "phone": row.reach.phone,
        "last_contact": contact_json(row.reach.last),
        "booked_on": row.booked_on,
    }


def _last_words(row: ChaseRow) -> str:
    last = row.reach.last
    if last is None:
        return ""
    booked = f" for {last.booked_on}" if last.booked_on else ""
    return f"{last.outcome.value}{booked} ({last.contacted_at:%Y-%m-%d})"


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)
    app.command("overdue")(overdue)
