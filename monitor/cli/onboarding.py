"""`monitor patient import FILE`: onboard a clinic's caseload from its spreadsheet (issue 14).

Exit codes (docs/decisions.md, "Onboarding"): 2 when any row is bad and `--skip-bad` is not
given (nothing written; every bad row listed with its line), 0 otherwise, `--skip-bad` included
(the rows left out are listed on stderr and in `--json`'s `errors`); 1 for a database fault
mid-way, saying how many patients were committed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from monitor import clock
from monitor.adapters.caseload import read_caseload
from monitor.cli.context import JsonFlag, cli_actor, print_json, reports_errors, state
from monitor.cli.records import patient_app
from monitor.domain.fields import PERSON_LENGTH, checked_line
from monitor.services.people.onboarding import ImportPlan, WriteOutcome, check_caseload
from monitor.services.people.onboarding import write_caseload as write_plan


@patient_app.command("import")
@reports_errors
def patient_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a .csv or .xlsx caseload (examples/)")],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="import the good patients, list the bad rows")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would change, write nothing")
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="who imports (the audit's actor)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Onboard patients and their courses or treatments from a spreadsheet, one row per course
    or treatment; every row is checked before anything is written."""
    app_state = state(ctx)
    actor = checked_line(by, "--by", PERSON_LENGTH) if by is not None else cli_actor()
    if not file.is_file():
        typer.echo(f"error: {file} is not a file", err=True)
        raise typer.Exit(2)
    read = read_caseload(file)
    with app_state.session() as session:
        plan = check_caseload(session, read.rows, read.problems, today=app_state.today())
    refused = bool(plan.errors) and not skip_bad
    outcome = None
    if not refused and not dry_run:
        outcome = _write(app_state, plan, actor, show_progress=not as_json)
    report = _report(file, plan, dry_run=dry_run, written=outcome is not None)
    if as_json:
        print_json(report)
    else:
        _print(report, outcome)
    _print_errors(plan, refused=refused, dry_run=dry_run, quiet=as_json)
    if refused:
        raise typer.Exit(2)


def _write(app_state: Any, plan: ImportPlan, actor: str, *, show_progress: bool) -> WriteOutcome:
    total = sum(1 for change in plan.changes if change.state != "unchanged")
    engine, catalogue, now = app_state.engine(), app_state.config.catalogue, clock.now_utc()
    if not (show_progress and sys.stderr.isatty()) or total == 0:
        return write_plan(engine, catalogue, plan, actor=actor, now=now)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("patients", total=total)
        return write_plan(
            engine,
            catalogue,
            plan,
            actor=actor,
            now=now,
            progress=lambda done: progress.advance(task, done),
        )


def _report(file: Path, plan: ImportPlan, *, dry_run: bool, written: bool) -> dict[str, Any]:
    """`--json`'s shape: the counts of `ImportPlan.counts` and every bad row by its line."""
    return {
        "file": file.name,
        "dry_run": dry_run,
        "written": written,
        **plan.counts(),
        "errors": [
            {"line": error.line, "mrn": error.mrn, "reason": error.reason} for error in plan.errors
        ],
    }


def _print(report: dict[str, Any], outcome: WriteOutcome | None) -> None:
    patients = report["patients"]
    verb = "would import" if report["dry_run"] else ("imported" if report["written"] else "checked")
    typer.echo(
        f"{verb} {report['rows']:,} rows: patients {patients['new']:,} new, "
        f"{patients['updated']:,} updated, {patients['unchanged']:,} unchanged, "
        f"{patients['skipped']:,} skipped; courses added {report['courses_added']:,}, "
        f"treatments added {report['treatments_added']:,}, "
        f"stopped {report['treatments_stopped']:,}"
    )


def _print_errors(plan: ImportPlan, *, refused: bool, dry_run: bool, quiet: bool) -> None:
    for error in plan.errors if not quiet else []:
        mrn = f" (MRN {error.mrn})" if error.mrn else ""
        typer.echo(f"line {error.line}{mrn}: {error.reason}", err=True)
    if refused:
        counts = plan.counts()
        bad, out = counts["bad_rows"], counts["rows_left_out"] - counts["bad_rows"]
        also = f" (and {out:,} good rows of the same patients)" if out else ""
        tail = "" if dry_run else "; nothing was written (fix them, or use --skip-bad)"
        typer.echo(f"error: {bad:,} of {plan.rows:,} rows are bad{also}{tail}", err=True)


def register(app: typer.Typer) -> None:
    """The command is on the `patient` group (`records`), added when this module is imported."""
