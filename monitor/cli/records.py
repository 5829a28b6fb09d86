"""`monitor patient add|edit|status|show` and `monitor course add`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor import clock
from monitor.cli.actors import actor_named
from monitor.cli.context import (
    JsonFlag,
    cli_actor,
    optional_date,
    parse_date,
    print_json,
    reports_errors,
    state,
    warn,
    wide_console,
)
from monitor.cli.root import command_group
from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID
from monitor.domain.courses import consecutive_dates
from monitor.errors import InvalidInput
from monitor.services.people import courses, details, patients
from monitor.services.people.record import PatientRecord, patient_record
from monitor.services.results.flagged import worst_first

patient_app = command_group("Patients.", no_args_is_help=True)
course_app = command_group("Infusion courses.", no_args_is_help=True)


@patient_app.command("add")
@reports_errors
def patient_add(
    ctx: typer.Context,
    mrn: str,
    name: Annotated[str, typer.Option("--name")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    dob: Annotated[str | None, typer.Option("--dob", help="YYYY-MM-DD")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="F, M or X")] = None,
    site: Annotated[str, typer.Option("--site")] = "main",
) -> None:
    """Register a patient."""
    app_state = state(ctx)
    born_on = optional_date(dob, "--dob")
    with app_state.session() as session:
        patients.add_patient(
            session,
            mrn=mrn,
            name=name,
            email=email,
            born_on=born_on,
            sex=sex,
            site=site,
            actor=cli_actor(),
            now=clock.now_utc(),
        )
    typer.echo(f"added patient {mrn.strip()}")


@patient_app.command("edit")
@reports_errors
def patient_edit(
    ctx: typer.Context,
    mrn: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    dob: Annotated[str | None, typer.Option("--dob", help="YYYY-MM-DD")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="F, M or X (needs --reason)")] = None,
    site: Annotated[str | None, typer.Option("--site", help="one of the clinic's sites")] = None,
    email: Annotated[str | None, typer.Option("--email", help='"" clears it')] = None,
    phone: Annotated[str | None, typer.Option("--phone", help='"" clears it')] = None,
    address: Annotated[
        str | None, typer.Option("--address", help='postal lines separated by | ("" clears)')
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="email, letter or sms")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why (required for --sex)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who made the change")] = None,
) -> None:
    """Correct or update a patient's details (audited with before, after and the reason)."""
    app_state = state(ctx)
    changes = details.PatientChanges(
        name=name,
        born_on=optional_date(dob, "--dob"),
        sex=sex,
        site=site,
        email=email,
        phone=phone,
        address=address.replace("|", "\n") if address is not None else None,
        channel=channel,
    )
    if not changes.any():
        raise InvalidInput(
            "give at least one of --name, --dob, --sex, --site, --email, "
            "--phone, --address, --channel"
        )
    with app_state.session() as session:
        changed = details.edit_patient(
            session,
            mrn=mrn,
            changes=changes,
            reason=reason,
            sites=details.allowed_sites(session, app_state.config),
            actor=actor_named(by),
            now=clock.now_utc(),
        )
    what = ", ".join(changed) if changed else "nothing changed"
    typer.echo(f"updated patient {mrn.strip()}: {what}")


@patient_app.command("status")
@reports_errors
def patient_status(
    ctx: typer.Context,
    mrn: str,
    status: str,
    on: Annotated[str, typer.Option("--on", help="YYYY-MM-DD the status took effect")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Set a patient's status: active, withdrawn, deceased or transferred."""
    app_state = state(ctx)
    effective_on = parse_date(on, "--on")
    with app_state.session() as session:
        patients.change_status(
            session,
            mrn=mrn,
            status=status,
            on=effective_on,
            reason=reason,
            actor=cli_actor(),
            now=clock.now_utc(),
        )
    typer.echo(f"patient {mrn} is {status} from {effective_on}")


@patient_app.command("show")
@reports_errors
def patient_show(ctx: typer.Context, mrn: str, as_json: JsonFlag = False) -> None:
    """A patient's record: status, courses, monitoring end."""
    app_state = state(ctx)
    with app_state.session() as session:
        record = patient_record(session, mrn, app_state.config.catalogue, app_state.today())
    data = record_json(record)
    if as_json:
        print_json(data)
        return
    _print_record(data)


def record_json(record: PatientRecord) -> dict[str, Any]:
    """`patient show --json`'s shape of the record (open flags one by one, most severe first)."""
    open_flags = sorted((f for group in record.open_flags for f in group.flags), key=worst_first)
    return {
        "mrn": record.mrn,
        "name": record.name,
        "email": record.email,
        "email_opted_out": record.email_opted_out,
        "dob": record.born_on,
        "sex": record.sex,
        "site": record.site,
        "status": record.derived_status,
        "status_on": record.status_on,
        "courses": [
            {"number": n, "dates": list(c.dates)} for n, c in enumerate(record.courses, start=1)
        ],
        "treatments": [
            {
                "protocol": t.protocol,
                "kind": t.kind,
                "started_on": t.started_on,
                "stopped_on": t.stopped_on,
                "courses": [
                    {"number": n, "dates": list(c.dates)} for n, c in enumerate(t.courses, start=1)
                ],
            }
            for t in record.treatments
        ],
        "warnings": list(record.warnings),
        "monitoring_end": record.monitoring_end,
        "open_flags": [
            {"id": f.id, "severity": f.severity.value, "rule": f.rule, "message": f.message}
            for f in open_flags
        ],
    }


def _print_record(data: dict[str, Any]) -> None:
    console = wide_console()
    console.print(f"[bold]{data['mrn']}[/bold]  {data['name']}  ({data['status']})")
    console.print(f"site {data['site']}  email {data['email'] or '-'}")
    table = Table("course", "first", "last", "days")
    for course in data["courses"]:
        dates = course["dates"]
        table.add_row(str(course["number"]), str(dates[0]), str(dates[-1]), str(len(dates)))
    console.print(table)
    for number, treatment in enumerate(data["treatments"], start=1):
        if treatment["kind"] == "continuous":
            stop = treatment["stopped_on"] or "open"
            console.print(
                f"treatment {number}: {treatment['protocol']} {treatment['started_on']} to {stop}"
            )
        elif treatment["protocol"] != DEFAULT_PROTOCOL_ID:
            count = len(treatment["courses"])
            console.print(f"treatment {number}: {treatment['protocol']}, {count} course(s)")
    console.print(f"monitoring ends {data['monitoring_end'] or '-'}")
    for line in data["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {line}")
    for flag in data["open_flags"]:
        console.print(f"[red]flag {flag['id']} {flag['severity']}[/red]: {flag['message']}")


@course_app.command("add")
@reports_errors
def course_add(
    ctx: typer.Context,
    mrn: str,
    start: Annotated[str | None, typer.Option("--start", help="first infusion YYYY-MM-DD")] = None,
    days: Annotated[int | None, typer.Option("--days", help="consecutive infusion days")] = None,
    dates: Annotated[str | None, typer.Option("--dates", help="D1,D2,... (YYYY-MM-DD)")] = None,
    protocol: Annotated[
        str, typer.Option("--protocol", help="a courses protocol (default alemtuzumab)")
    ] = DEFAULT_PROTOCOL_ID,
) -> None:
    """Record an infusion course (past or planned)."""
    app_state = state(ctx)
    infused_on = course_dates(start, days, dates)
    with app_state.session() as session:
        warnings = courses.add_course(
            session,
            mrn=mrn,
            infused_on=infused_on,
            actor=cli_actor(),
            now=clock.now_utc(),
            protocol=protocol,
        )
    for line in warnings:
        warn(line)
    typer.echo(f"added course for {mrn}: {infused_on[0]} to {infused_on[-1]}")


def course_dates(start: str | None, days: int | None, dates: str | None) -> list[date]:
    """The infusion dates of `--start/--days` or `--dates` (course add and course correct)."""
    if dates is not None and (start is not None or days is not None):
        raise InvalidInput("give either --start and --days, or --dates, not both")
    if dates is not None:
        return [parse_date(d.strip(), "--dates") for d in dates.split(",") if d.strip()]
    if start is None or days is None:
        raise InvalidInput("give --start and --days, or --dates")
    return consecutive_dates(parse_date(start, "--start"), days, "--days")


def register(app: typer.Typer) -> None:
    app.add_typer(patient_app, name="patient")
    app.add_typer(course_app, name="course")
