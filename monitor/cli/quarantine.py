"""`monitor quarantine [--json]`, `quarantine retry [ID] [--patient MRN]`, `quarantine drop ID
--reason`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from monitor import clock
from monitor.adapters.formats import parse_text
from monitor.cli.context import (
    MAX_ROW_ID,
    JsonFlag,
    cli_actor,
    print_json,
    reports_errors,
    state,
)
from monitor.cli.root import command_group
from monitor.domain.vocabulary import QuarantineStatus
from monitor.errors import InvalidInput
from monitor.services.people.record import patient_ref
from monitor.services.results.imports import ImportContext
from monitor.services.results.incoming import Parsed
from monitor.services.results.quarantine import (
    drop_item,
    retry_items,
)
from monitor.services.results.quarantined import QuarantineEntry, quarantine_list

quarantine_app = command_group(
    "Results that could not be imported, with the reason.", invoke_without_command=True
)


@quarantine_app.callback()
@reports_errors
def quarantine(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    show_all: Annotated[bool, typer.Option("--all", help="retried and dropped too")] = False,
) -> None:
    """List open quarantine items (oldest first)."""
    if ctx.invoked_subcommand is not None:
        return
    with state(ctx).session() as session:
        data = [
            item_json(item)
            for item in quarantine_list(
                session, None if show_all else "open", oldest_first=True, limit=None
            )
        ]
    if as_json:
        print_json(data)
        return
    for item in data:
        typer.echo(f"{item['id']}  {item['received_at']}  {item['source']}  {item['reason']}")
    if not data:
        typer.echo("the quarantine is empty")


def item_json(item: QuarantineEntry) -> dict[str, Any]:
    """SPEC §9's shape, plus format and status."""
    return {
        "id": item.id,
        "source": item.source,
        "received_at": item.received_at.isoformat(),
        "reason": item.reason,
        "raw": item.raw,
        "format": item.format,
        "status": item.status.value,
    }


@quarantine_app.command("retry")
@reports_errors
def retry(
    ctx: typer.Context,
    item_id: Annotated[int | None, typer.Argument(max=MAX_ROW_ID)] = None,
    patient: Annotated[
        str | None,
        typer.Option("--patient", help="MRN for an item that names no patient (needs an ID)"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import an item (or every open one) again, e.g. after adding the patient or a code."""
    app_state = state(ctx)
    config = app_state.config
    if patient is not None and item_id is None:
        raise InvalidInput("--patient needs the ID of the one item it is for")
    context = ImportContext(config, app_state.today(), clock.now_utc(), patient)

    def reparse(item: QuarantineEntry) -> list[Parsed]:
        fmt = item.format if item.format in ("csv", "hl7", "fhir") else None
        return parse_text(item.raw, fmt, config, source=item.source)

    with app_state.session() as session:
        if patient is not None:
            patient_ref(session, patient)
        outcomes = retry_items(session, item_id, reparse, context, cli_actor())
        retried = [retry_json(item) for item, _report in outcomes]
        lines = [
            f"{item.id}: {item.status.value}"
            + (f" ({item.resolution})" if item.resolution else f": {item.reason}")
            for item, _report in outcomes
        ]
    if as_json:
        still_open = sum(item["status"] == QuarantineStatus.OPEN.value for item in retried)
        print_json(
            {"retried": len(retried) - still_open, "still_open": still_open, "items": retried}
        )
        return
    for line in lines or ["nothing to retry"]:
        typer.echo(line)


def retry_json(item: QuarantineEntry) -> dict[str, Any]:
    """One retried item: `retried` (taken in) or still `open` with the reason why."""
    return {
        "id": item.id,
        "status": item.status.value,
        "reason": item.reason,
        "resolution": item.resolution,
    }


@quarantine_app.command("drop")
@reports_errors
def drop(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(max=MAX_ROW_ID)],
    reason: Annotated[str, typer.Option("--reason", help="why it will not be imported")],
) -> None:
    """Close an item without importing it."""
    with state(ctx).session() as session:
        drop_item(session, item_id, reason=reason, actor=cli_actor(), now=clock.now_utc())
    typer.echo(f"dropped quarantine item {item_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(quarantine_app, name="quarantine")
