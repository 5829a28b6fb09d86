"""`monitor outbox` and `monitor send`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from monitor import clock
from monitor.cli.context import MAX_ROW_ID, print_json, reports_errors, state, wide_console
from monitor.notify.transports import make_transport
from monitor.services.outbox import drain_outbox
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage

STATUS_STYLES = {
    "pending": "cyan",
    "sending": "bold cyan",
    "sent": "green",
    "failed": "bold red",
    "skipped": "dim",
}


@reports_errors
def outbox(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, max=MAX_ROW_ID, help="newest N only")
    ] = None,
) -> None:
    """Queued, sent, failed and skipped emails, newest first."""
    with unit_of_work(state(ctx).engine()) as session:
        query = select(OutboxMessage).order_by(
            OutboxMessage.created_at.desc(), OutboxMessage.id.desc()
        )
        data = [outbox_json(row) for row in session.scalars(query.limit(limit))]
    if as_json:
        print_json(data)
        return
    table = Table("id", "created", "message", "to", "subject", "status", "tries", "note")
    for item in data:
        style = STATUS_STYLES.get(item["status"], "")
        table.add_row(
            str(item["id"]),
            item["created_at"].strftime("%Y-%m-%d %H:%M"),
            item["message"],
            item["to"],
            item["subject"],
            f"[{style}]{item['status']}[/{style}]" if style else item["status"],
            str(item["attempts"]),
            item["reason"] or item["last_error"] or "",
        )
    wide_console().print(table)
    typer.echo(f"{len(data)} message(s)" if data else "the outbox is empty")


def outbox_json(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "message": row.message,
        "to": row.recipient,
        "subject": row.subject,
        "status": row.status.value,
        "dedupe_key": row.dedupe_key,
        "reason": row.reason,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
    }


@reports_errors
def send(ctx: typer.Context) -> None:
    """Deliver what is pending now through the configured transport."""
    app_state = state(ctx)
    config = app_state.config
    transport = make_transport(config)
    counts = drain_outbox(
        app_state.engine(), transport, now_fn=clock.now_utc, sender=config.email.from_
    )
    typer.echo(f"sent {counts.sent}, to retry later {counts.retried}, failed {counts.failed}")


def register(app: typer.Typer) -> None:
    app.command("outbox")(outbox)
    app.command("send")(send)
