"""The `monitor` command (SPEC §7). Each submodule adds one group of commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli import (
    calendars,
    contacts,
    edits,
    exports,
    forms,
    imports,
    letters,
    lists,
    mail,
    notices,
    onboarding,
    operations,
    preview,
    protocols,
    quarantine,
    records,
    reports,
    results,
    safety,
    system,
    tokens,
    treatments,
    web,
)
from monitor.cli.context import AppState, command_group
from monitor.log import guard_library_logging

app = command_group(
    "Alemtuzumab safety monitor: schedules, results and the nurses' overdue list.",
    name="monitor",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="config.toml (else $MONITOR_CONFIG)")
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", help="database URL (else $MONITOR_DATABASE_URL)")
    ] = None,
) -> None:
    ctx.obj = AppState(config_path=config, database_url=database)
    ctx.call_on_close(ctx.obj.close)


for module in (
    system,
    records,
    treatments,
    results,
    lists,
    safety,
    notices,
    mail,
    preview,
    operations,
    protocols,
    imports,
    quarantine,
    web,
    edits,
    letters,
    forms,
    reports,
    tokens,
    calendars,
    contacts,
    exports,
    onboarding,
):
    module.register(app)


def main() -> None:
    guard_library_logging()
    app()
