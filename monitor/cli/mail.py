"""`monitor outbox` (with `confirm` and `resend` for unconfirmed emails) and `monitor send`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from monitor import clock
from monitor.cli.context import (
    MAX_ROW_ID,
    JsonFlag,
    cli_actor,
    print_json,
    reports_errors,
    state,
    wide_console,
)
from monitor.cli.root import command_group
from monitor.notify.gov_notify import make_sms_transport
from monitor.notify.transports import make_transport
from monitor.services.mail.history import Email, outbox_list
from monitor.services.mail.outbox import DeliveryCounts, drain_outbox
from monitor.services.mail.unconfirmed import CHECK_HINT, confirm_delivered, resend

STATUS_STYLES = {
    "pending": "cyan",
    "sending": "bold cyan",
    "sent": "green",
    "failed": "bold red",
    "skipped": "dim",
    "unconfirmed": "bold yellow",
}

outbox_app = command_group(
    "Every email decided, with its status; confirm or re-send an unconfirmed one.",
    invoke_without_command=True,
)


@outbox_app.callback()
@reports_errors
def outbox(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, max=MAX_ROW_ID, metavar="N", help="newest N only"),
    ] = None,
) -> None:
    """Queued, sent, failed, skipped and unconfirmed emails, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with state(ctx).session() as session:
        data = [outbox_json(entry) for entry in outbox_list(session, limit=limit)]
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


def outbox_json(row: Email) -> dict[str, Any]:
    return {
        "id": row.id,
        "message": row.message,
        "to": row.recipient,
        "subject": row.subject,
        "status": row.status.value,
        "dedupe_key": row.dedupe_key,
        "message_id": row.message_id,
        "reason": row.reason,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "channel": row.channel.value,
    }


@outbox_app.command("confirm")
@reports_errors
def confirm(ctx: typer.Context, outbox_id: int) -> None:
    """An unconfirmed email did arrive (the mail server's log has its Message-ID): mark it sent."""
    with state(ctx).session() as session:
        confirm_delivered(session, outbox_id, actor=cli_actor(), now=clock.now_utc())
    typer.echo(f"outbox {outbox_id}: marked sent")


@outbox_app.command("resend")
@reports_errors
def resend_unconfirmed(ctx: typer.Context, outbox_id: int) -> None:
    """An unconfirmed email did not arrive: send it again (same Message-ID) at the next drain."""
    with state(ctx).session() as session:
        resend(session, outbox_id, actor=cli_actor(), now=clock.now_utc())
    typer.echo(f"outbox {outbox_id}: queued to be sent again")


@reports_errors
def send(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Deliver what is pending now: emails, and text messages when [sms] is enabled."""
    app_state = state(ctx)
    config = app_state.config
    transport = make_transport(config)
    counts = drain_outbox(
        app_state.engine(),
        transport,
        now_fn=clock.now_utc,
        sender=config.email.from_,
        sms=make_sms_transport(config),  # text messages too, when [sms] is enabled
    )
    if as_json:
        print_json(
            {
                "sent": counts.sent,
                "retried": counts.retried,
                "failed": counts.failed,
                "unconfirmed": counts.unconfirmed,
            }
        )
        return
    typer.echo(describe_counts(counts))


def describe_counts(counts: DeliveryCounts) -> str:
    line = f"sent {counts.sent}, to retry later {counts.retried}, failed {counts.failed}"
    if counts.unconfirmed:
        line += f", not confirmed by the mail server {counts.unconfirmed} (to check: {CHECK_HINT})"
    return line


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")
    app.command("send")(send)
