"""`monitor result add` and `monitor results`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from monitor import clock
from monitor.cli.context import (
    JsonFlag,
    cli_actor,
    parse_date,
    print_json,
    reports_errors,
    state,
    wide_console,
)
from monitor.cli.root import command_group
from monitor.domain.fields import SOURCE_LENGTH, checked_line
from monitor.domain.rules.context import fmt
from monitor.services.people.record import patient_ref
from monitor.services.results.history import ResultView, patient_results
from monitor.services.results.intake import audit_entry, record_results
from monitor.services.results.recording import ResultIn

result_app = command_group("Lab results.", no_args_is_help=True)


@result_app.command("add")
@reports_errors
def result_add(
    ctx: typer.Context,
    mrn: str,
    analyte: Annotated[str, typer.Option("--analyte")],
    value: Annotated[str, typer.Option("--value")],
    collected: Annotated[str, typer.Option("--collected", help="YYYY-MM-DD")],
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    ref_low: Annotated[float | None, typer.Option("--ref-low")] = None,
    ref_high: Annotated[float | None, typer.Option("--ref-high")] = None,
    menstruating: Annotated[bool, typer.Option("--menstruating")] = False,
    source: Annotated[str, typer.Option("--source")] = "manual",
) -> None:
    """Record one lab result (value and unit as the lab reported them)."""
    app_state = state(ctx)
    given = ResultIn(
        mrn=mrn,
        analyte=analyte,
        value=value,
        unit=unit,
        collected_on=parse_date(collected, "--collected"),
        ref_low=ref_low,
        ref_high=ref_high,
        is_menstruating=menstruating,
        source=checked_line(source, "--source", SOURCE_LENGTH),
    )
    with app_state.session() as session:
        recorded = record_results(
            session,
            [given],
            today=app_state.today(),
            now=clock.now_utc(),
            config=app_state.config,
        )
        audit_entry(session, recorded.results[0], actor=cli_actor(), now=clock.now_utc())
        result_id = recorded.results[0].id
        raised = [(f.id, f.severity.value, f.message) for f in recorded.flags]
    typer.echo(f"stored result {result_id} ({analyte}) for {mrn}")
    for flag_id, severity, message in raised:
        typer.echo(f"flag {flag_id} [{severity}]: {message}")


@reports_errors
def results(ctx: typer.Context, mrn: str, as_json: JsonFlag = False) -> None:
    """Every stored result of a patient, newest first."""
    with state(ctx).session() as session:
        rows = patient_results(session, patient_ref(session, mrn).id)
    data = [result_json(row) for row in rows]
    if as_json:
        print_json(data)
        return
    table = Table("id", "collected", "analyte", "value", "unit", "canonical", "source", "status")
    for item in data:
        table.add_row(
            str(item["id"]),
            str(item["collected_on"]),
            item["analyte"],
            str(item["value"]),
            item["unit"],
            _readable(item["canonical_value"]),
            item["source"],
            item["status"],
        )
    wide_console().print(table)


def _readable(canonical: float | str | None) -> str:
    """Rounded for a person (70.72, not 70.72000000000001); `--json` gives the stored value."""
    return fmt(canonical) if isinstance(canonical, float) else str(canonical)


def result_json(row: ResultView) -> dict[str, Any]:
    """SPEC §9's shape: value as received (a number when numeric), canonical value."""
    value: Any = row.value
    if row.canonical_value is not None:
        value = float(row.value)
    return {
        "id": row.id,
        "analyte": row.analyte,
        "value": value,
        "unit": row.unit,
        "canonical_value": row.ordinal if row.ordinal is not None else row.canonical_value,
        "collected_on": row.collected_on,
        "source": row.source,
        "ref_low": row.ref_low,
        "ref_high": row.ref_high,
        "menstruating": row.is_menstruating,
        "status": row.status.value,
        "accession": row.accession,
    }


def register(app: typer.Typer) -> None:
    app.add_typer(result_app, name="result")
    app.command("results")(results)
