"""`monitor export overdue|flags|audit --format csv|xlsx --out FILE`: the lists as spreadsheets.

The file is written whole or not at all: to a temporary file beside it, then renamed over it.
"""

from __future__ import annotations

import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from monitor.adapters.spreadsheets import encoded
from monitor.cli.context import as_of, reports_errors, state
from monitor.domain.fields import SITE_LENGTH, checked_line
from monitor.errors import InvalidInput, MonitorError
from monitor.services.audit import AuditFilter
from monitor.services.exports import Sheet, audit_sheet, flags_sheet, overdue_sheet
from monitor.services.results.flagged import FlagFilter


class Kind(StrEnum):
    OVERDUE = "overdue"
    FLAGS = "flags"
    AUDIT = "audit"


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@reports_errors
def export(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Argument(help="overdue | flags | audit")],
    out: Annotated[Path, typer.Option("--out", help="the file to write (replaced if there)")],
    fmt: Annotated[Format, typer.Option("--format", help="csv | xlsx")] = Format.CSV,
    as_of_date: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD (overdue only; default today)")
    ] = None,
    site: Annotated[str | None, typer.Option("--site", help="overdue and flags only")] = None,
    include_booked: Annotated[
        bool, typer.Option("--include-booked", help="overdue: also patients booked ahead")
    ] = False,
) -> None:
    """Write the overdue list with contact details, every flag, or the whole audit trail."""
    if kind is not Kind.OVERDUE and (as_of_date is not None or include_booked):
        raise InvalidInput("--as-of and --include-booked are for `export overdue` only")
    if kind is Kind.AUDIT and site is not None:
        raise InvalidInput("--site is for `export overdue` and `export flags` only")
    site = checked_line(site, "--site", SITE_LENGTH) if site is not None else None
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidInput(f"--out: the folder {str(folder)[:200]!r} does not exist")
    if out.is_dir():
        raise InvalidInput(f"--out {str(out)[:200]!r} is a folder, not a file")
    app_state = state(ctx)
    zone = ZoneInfo(app_state.config.clinic.timezone)
    on = as_of(ctx, as_of_date)
    with app_state.session(current_schedules=kind is Kind.OVERDUE) as session:
        sheet: Sheet
        if kind is Kind.OVERDUE:
            catalogue = app_state.config.catalogue
            sheet = overdue_sheet(
                session, on, catalogue, zone, site=site, include_booked=include_booked
            )
        elif kind is Kind.FLAGS:
            sheet = flags_sheet(session, FlagFilter(site=site), zone)
        else:
            sheet = audit_sheet(session, AuditFilter(), zone)
    try:
        _write_whole(out, encoded(sheet, fmt.value))
    except OSError as error:
        raise MonitorError(f"could not write {out}: {error.strerror}") from None
    typer.echo(f"{len(sheet.rows)} row(s) written to {out}")


def _write_whole(path: Path, data: bytes) -> None:
    """`data` into `path` through a temporary file in the same folder and a rename."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".export-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def register(app: typer.Typer) -> None:
    app.command("export")(export)
