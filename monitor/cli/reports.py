"""`monitor report adherence` and `monitor report rems`: the service lead's reports (issue 16).

Both read the stored slots through `services.reports` (so they refuse stale schedules, like the
overdue list); the formats are `adapters.report_csv`'s, the same as the Reports page's downloads.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from monitor.adapters.report_csv import adherence_csv, adherence_json, rems_csv
from monitor.cli.context import (
    JsonFlag,
    as_of,
    parse_date,
    print_json,
    reports_errors,
    state,
    wide_console,
)
from monitor.cli.root import command_group
from monitor.domain.fields import SITE_LENGTH, checked_line
from monitor.errors import InvalidInput
from monitor.services.reports.adherence import AdherenceReport, ReportBy, adherence_report
from monitor.services.reports.period import ReportFilter
from monitor.services.reports.rems import rems_list

report_app = command_group("Reports for the service lead: adherence, the REMS list.")

FromOption = Annotated[str, typer.Option("--from", help="first due date, YYYY-MM-DD")]
ToOption = Annotated[str, typer.Option("--to", help="last due date, YYYY-MM-DD (included)")]
SiteOption = Annotated[str | None, typer.Option("--site", help="one site only")]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="statuses as of YYYY-MM-DD (default today)")
]
CsvFlag = Annotated[bool, typer.Option("--csv", help="print CSV for a spreadsheet")]


def _filter(first: str, last: str, site: str | None, protocol: str | None) -> ReportFilter:
    return ReportFilter(
        parse_date(first, "--from"),
        parse_date(last, "--to"),
        checked_line(site, "--site", SITE_LENGTH) if site is not None else None,
        protocol.strip() if protocol is not None else None,
    )


@reports_errors
def adherence(
    ctx: typer.Context,
    first: FromOption,
    last: ToOption,
    site: SiteOption = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="one protocol id")] = None,
    by: Annotated[str, typer.Option("--by", help="month (default) or patient")] = "month",
    as_of_date: AsOfOption = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Slots due in the period, by month (or patient), site, protocol and panel: done on time,
    late, overdue, missed, waived, cancelled, still open, and the on-time percentage."""
    if as_json and as_csv:
        raise InvalidInput("--json and --csv cannot be used together")
    if by not in {b.value for b in ReportBy}:
        raise InvalidInput(f"--by {by[:20]!r} is not month or patient")
    wanted = _filter(first, last, site, protocol)
    app_state = state(ctx)
    on = as_of(ctx, as_of_date)
    with app_state.session(current_schedules=True) as session:
        report = adherence_report(session, app_state.config.catalogue, wanted, on, ReportBy(by))
    if as_json:
        print_json(adherence_json(report))
    elif as_csv:
        typer.echo(adherence_csv(report), nl=False)
    else:
        _print_table(report)


def _print_table(report: AdherenceReport) -> None:
    wanted = report.wanted
    head = "month" if report.by is ReportBy.MONTH else "MRN"
    title = f"Adherence, slots due {wanted.first_on} to {wanted.last_on}, as of {report.on}"
    table = Table(
        head, "site", "protocol", "panel", "due", "done", "late", "overdue", "missed",
        "waived", "cancelled", "open", "on time %", title=title,
    )  # fmt: skip
    for row in report.rows:
        c = row.counts
        table.add_row(
            (row.month if report.by is ReportBy.MONTH else row.mrn) or "",
            row.site, row.protocol, row.panel,
            *(str(n) for n in (c.due, c.done, c.late, c.overdue, c.missed, c.waived,
                               c.cancelled, c.open)),
            _pct(c.on_time_pct),
        )  # fmt: skip
    wide_console().print(table)
    total = report.total
    typer.echo(
        f"{total.due} due, {total.done} done on time of {total.assessed} assessed: "
        f"{_pct(total.on_time_pct)} on time, {_pct(total.completed_pct)} done at all"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


@reports_errors
def rems(
    ctx: typer.Context,
    first: FromOption,
    last: ToOption,
    site: SiteOption = None,
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="default: alemtuzumab (Lemtrada's REMS)")
    ] = None,
    as_of_date: AsOfOption = None,
    as_csv: CsvFlag = False,
) -> None:
    """The REMS list: each patient's monitoring month by month (which panels were done, on
    which days), one row per patient and month; CSV with --csv."""
    wanted = _filter(first, last, site, protocol)
    app_state = state(ctx)
    on = as_of(ctx, as_of_date)
    with app_state.session(current_schedules=True) as session:
        listing = rems_list(session, app_state.config.catalogue, wanted, on)
    text = rems_csv(listing)
    if as_csv:
        typer.echo(text, nl=False)
        return
    header, *rows = csv.reader(io.StringIO(text))
    table = Table(*header, title=f"REMS list, {listing.protocol}, as of {on}")
    for cells in rows:
        table.add_row(*(escape(cell) for cell in cells))
    wide_console().print(table)
    typer.echo(f"{len(rows)} patient-months")


def register(app: typer.Typer) -> None:
    report_app.command("adherence")(adherence)
    report_app.command("rems")(rems)
    app.add_typer(report_app, name="report")
