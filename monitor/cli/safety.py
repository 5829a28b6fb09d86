"""Safety workflow: `flags`, `flag ack`, `slot waive`, `patient pregnancy`, `audit`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from monitor import clock
from monitor.cli.context import (
    MAX_ROW_ID,
    JsonFlag,
    cli_actor,
    optional_date,
    parse_date,
    print_json,
    reports_errors,
    state,
    wide_console,
)
from monitor.cli.records import patient_app
from monitor.cli.root import command_group
from monitor.domain.vocabulary import FlagStatus
from monitor.services.audit import AuditFilter, AuditRow, audit_list
from monitor.services.people.patients import add_pregnancy
from monitor.services.people.record import patient_ref
from monitor.services.results.flagged import (
    FlagFilter,
    FlagView,
    ResultFlags,
    flag_list,
    worst_first,
)
from monitor.services.results.flags import acknowledge_flag
from monitor.services.schedule.waivers import waive_slot

flag_app = command_group("Safety flags.", no_args_is_help=True)
slot_app = command_group("Schedule slots.", no_args_is_help=True)

SEVERITY_STYLES = {"review": "yellow", "urgent": "bold red", "emergency": "bold white on red"}


@reports_errors
def flags(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="include acknowledged flags")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Open safety flags (all flags with --all): one row per result, most severe first.

    A result that fired several rules is one row with every rule; `flag ack` on any of its
    open ids acknowledges the row. `--json` keeps one object per flag (SPEC §7).
    """
    wanted = FlagFilter(status=None if show_all else FlagStatus.OPEN.value)
    with state(ctx).session() as session:
        rows = flag_list(session, wanted, limit=None)
    if as_json:
        flags = [(flag, row.mrn) for row in rows for flag in row.group.flags]
        print_json([flag_json(flag, mrn) for flag, mrn in sorted(flags, key=_flag_order)])
        return
    table = Table("id", "MRN", "severity", "analyte", "value", "collected", "status", "findings")
    for row in rows:
        table.add_row(*_group_cells(row.group, row.mrn))
    wide_console().print(table)
    typer.echo(f"{len(rows)} flagged result(s)" if rows else "no open flags")


def _flag_order(pair: tuple[FlagView, str]) -> tuple[int, int]:
    return worst_first(pair[0])


def _group_cells(group: ResultFlags, mrn: str) -> list[str]:
    """One result's row: its flag ids, top severity, the value as received, every finding."""
    style = SEVERITY_STYLES[group.severity.value]
    result = group.result
    return [
        ", ".join(str(flag.id) for flag in group.flags),
        mrn,
        f"[{style}]{group.severity.value}[/{style}]",
        result.analyte,
        escape(f"{result.value} {result.unit}"),
        str(result.collected_on),
        "open" if group.is_open else "acknowledged",
        escape("\n".join(f"{flag.severity.value}: {flag.message}" for flag in group.flags)),
    ]


def flag_json(flag: FlagView, mrn: str) -> dict[str, Any]:
    """SPEC §7's flag shape: value and unit as received (a number unless ordinal)."""
    result = flag.result
    value: Any = result.value if result.ordinal is not None else float(result.value)
    return {
        "id": flag.id,
        "result_id": flag.result_id,
        "mrn": mrn,
        "analyte": result.analyte,
        "severity": flag.severity.value,
        "value": value,
        "unit": result.unit,
        "canonical_value": result.canonical_value,
        "collected_on": result.collected_on,
        "rule": flag.rule,
        "message": flag.message,
        "status": flag.status.value,
        "acknowledged_by": flag.acknowledged_by,
        "acknowledged_at": flag.acknowledged_at.isoformat() if flag.acknowledged_at else None,
        "repeat_due_on": flag.repeat_due_on,
    }


@flag_app.command("ack")
@reports_errors
def flag_ack(
    ctx: typer.Context,
    flag_id: Annotated[int, typer.Argument(max=MAX_ROW_ID)],
    by: Annotated[str, typer.Option("--by", help="who acknowledges")],
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> None:
    """Acknowledge an open flag and the other open flags of its result (each audited)."""
    with state(ctx).session() as session:
        closed = acknowledge_flag(session, flag_id=flag_id, by=by, note=note, now=clock.now_utc())
        ids = [flag.id for flag in closed]
    if len(ids) == 1:
        typer.echo(f"flag {flag_id} acknowledged by {by}")
    else:
        typer.echo(f"flags {', '.join(map(str, ids))} (one result) acknowledged by {by}")


@slot_app.command("waive")
@reports_errors
def slot_waive(
    ctx: typer.Context,
    mrn: str,
    panel: Annotated[str, typer.Option("--panel")],
    due: Annotated[str, typer.Option("--due", help="the slot's due date YYYY-MM-DD")],
    by: Annotated[str, typer.Option("--by")],
    reason: Annotated[str, typer.Option("--reason")],
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="when the panel is in several series")
    ] = None,
) -> None:
    """Waive one slot with a reason; it leaves the overdue list (audited)."""
    app_state = state(ctx)
    due_on = parse_date(due, "--due")
    with app_state.session() as session:
        waive_slot(
            session,
            mrn=mrn,
            panel=panel,
            due_on=due_on,
            by=by,
            reason=reason,
            now=clock.now_utc(),
            protocol=protocol,
        )
    typer.echo(f"waived {panel} due {due_on} for {mrn}")


@patient_app.command("pregnancy")
@reports_errors
def patient_pregnancy(
    ctx: typer.Context,
    mrn: str,
    from_: Annotated[str, typer.Option("--from", help="YYYY-MM-DD")],
    to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD; omit while ongoing")] = None,
) -> None:
    """Record a pregnancy period (abnormal TSH is then urgent)."""
    from_on, to_on = parse_date(from_, "--from"), optional_date(to, "--to")
    with state(ctx).session() as session:
        add_pregnancy(
            session,
            mrn=mrn,
            from_on=from_on,
            to_on=to_on,
            actor=cli_actor(),
            now=clock.now_utc(),
        )
    typer.echo(f"pregnancy recorded for {mrn} from {from_on}" + (f" to {to_on}" if to_on else ""))


@reports_errors
def audit(
    ctx: typer.Context,
    mrn: Annotated[str | None, typer.Argument()] = None,
    as_json: JsonFlag = False,
) -> None:
    """The audit log (every change a person made), oldest first; one patient's with MRN."""
    with state(ctx).session() as session:
        patient_id = patient_ref(session, mrn).id if mrn is not None else None
        rows = audit_list(
            session, AuditFilter(patient_id=patient_id), newest_first=False, limit=None
        )
    data = [audit_json(row) for row in rows]
    if as_json:
        print_json(data)
        return
    table = Table("id", "at (UTC)", "actor", "action", "entity", "before", "after")
    for item in data:
        table.add_row(
            str(item["id"]),
            item["at"],
            item["actor"],
            item["action"],
            f"{item['entity']} {item['entity_id'] or ''}",
            str(item["before"] or ""),
            str(item["after"] or ""),
        )
    wide_console().print(table)


def audit_json(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "before": row.before,
        "after": row.after,
    }


def register(app: typer.Typer) -> None:
    app.command("flags")(flags)
    app.add_typer(flag_app, name="flag")
    app.add_typer(slot_app, name="slot")
    app.command("audit")(audit)
