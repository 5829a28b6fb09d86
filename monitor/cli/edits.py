"""Editing the record from the command line (issue 14 item 2): `patient list`,
`course correct|delete`, `result correct|void`. `patient edit` is in `records` beside `add`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor import clock
from monitor.cli.actors import actor_named
from monitor.cli.context import JsonFlag, print_json, reports_errors, state, warn, wide_console
from monitor.cli.records import course_app, course_dates, patient_app
from monitor.cli.results import result_app
from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID
from monitor.services.people import course_edits
from monitor.services.people.directory import PatientLine, patient_list, patient_status
from monitor.services.results import amendments

ByOption = Annotated[str | None, typer.Option("--by", help="who made the change")]
ReasonOption = Annotated[str, typer.Option("--reason", help="why (kept in the audit trail)")]
CourseOption = Annotated[int, typer.Option("--course", help="its number in `patient show`")]
ProtocolOption = Annotated[
    str, typer.Option("--protocol", help="the courses protocol (default alemtuzumab)")
]


@reports_errors
def patient_list_command(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="active, withdrawn, deceased or transferred")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="part of the MRN or name (any case, accents)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List patients, or find one by MRN or name."""
    wanted = patient_status(status) if status is not None else None
    with state(ctx).session() as session:
        lines = patient_list(session, site=site, status=wanted, search=search)
    if as_json:
        print_json([_line_json(line) for line in lines])
        return
    table = Table("MRN", "name", "born", "sex", "site", "status", "phone", "channel")
    for line in lines:
        table.add_row(
            line.mrn,
            line.name,
            str(line.born_on or "-"),
            line.sex or "-",
            line.site,
            line.status.value,
            line.phone or "-",
            line.channel.value,
        )
    wide_console().print(table)
    typer.echo(f"{len(lines)} patient(s)")


def _line_json(line: PatientLine) -> dict[str, Any]:
    data = asdict(line)
    data["dob"] = data.pop("born_on")
    data["status"] = line.status.value
    data["channel"] = line.channel.value
    return data


@reports_errors
def course_correct(
    ctx: typer.Context,
    mrn: str,
    course: CourseOption,
    reason: ReasonOption,
    dates: Annotated[str | None, typer.Option("--dates", help="D1,D2,... (YYYY-MM-DD)")] = None,
    start: Annotated[str | None, typer.Option("--start", help="first infusion YYYY-MM-DD")] = None,
    days: Annotated[int | None, typer.Option("--days", help="consecutive infusion days")] = None,
    protocol: ProtocolOption = DEFAULT_PROTOCOL_ID,
    by: ByOption = None,
) -> None:
    """Correct the dates of a course (the schedule follows)."""
    infused_on = course_dates(start, days, dates)
    with state(ctx).session() as session:
        warnings = course_edits.correct_course(
            session,
            mrn=mrn,
            number=course,
            infused_on=infused_on,
            reason=reason,
            actor=actor_named(by),
            now=clock.now_utc(),
            protocol=protocol,
        )
    for line in warnings:
        warn(line)
    typer.echo(f"corrected course {course} of {mrn}: {infused_on[0]} to {infused_on[-1]}")


@reports_errors
def course_delete(
    ctx: typer.Context,
    mrn: str,
    course: CourseOption,
    reason: ReasonOption,
    protocol: ProtocolOption = DEFAULT_PROTOCOL_ID,
    by: ByOption = None,
) -> None:
    """Delete a course recorded by mistake (the schedule follows)."""
    with state(ctx).session() as session:
        emptied = course_edits.delete_course(
            session,
            mrn=mrn,
            number=course,
            reason=reason,
            actor=actor_named(by),
            now=clock.now_utc(),
            protocol=protocol,
        )
    typer.echo(f"deleted course {course} of {mrn}")
    if emptied:
        typer.echo(f"it was the last {protocol} course: that treatment is deleted too")


@reports_errors
def result_correct(
    ctx: typer.Context,
    result_id: int,
    value: Annotated[str, typer.Option("--value")],
    reason: ReasonOption,
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    by: ByOption = None,
) -> None:
    """Correct a mistyped result (a new row; the old one is kept as replaced)."""
    app_state = state(ctx)
    with app_state.session() as session:
        done = amendments.correct_result(
            session,
            result_id=result_id,
            value=value,
            unit=unit,
            reason=reason,
            actor=actor_named(by),
            now=clock.now_utc(),
            today=app_state.today(),
            config=app_state.config,
        )
        new_id = done.result.id
        raised = [(f.id, f.severity.value, f.message) for f in done.flags]
        superseded = done.superseded
    typer.echo(f"result {result_id} replaced by result {new_id}")
    if superseded:
        typer.echo(f"superseded flag(s): {', '.join(str(i) for i in superseded)}")
    for flag_id, severity, message in raised:
        typer.echo(f"flag {flag_id} [{severity}]: {message}")


@reports_errors
def result_void(
    ctx: typer.Context, result_id: int, reason: ReasonOption, by: ByOption = None
) -> None:
    """Mark a result entered in error (kept in the history, out of the schedule and rules)."""
    with state(ctx).session() as session:
        superseded = amendments.void_result(
            session, result_id=result_id, reason=reason, actor=actor_named(by), now=clock.now_utc()
        )
    typer.echo(f"result {result_id} marked entered-in-error")
    if superseded:
        typer.echo(f"superseded flag(s): {', '.join(str(i) for i in superseded)}")


def register(app: typer.Typer) -> None:
    """Adds to the groups `records` and `results` made (registered before this module)."""
    patient_app.command("list")(patient_list_command)
    course_app.command("correct")(course_correct)
    course_app.command("delete")(course_delete)
    result_app.command("correct")(result_correct)
    result_app.command("void")(result_void)
