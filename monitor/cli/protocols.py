"""`monitor protocols`: every configured protocol, its panels and phases (SPEC §10.3).

The table says each schedule in plain words (`services.protocols.protocol_sheets`), for a
clinician to check; `--json` gives the phases as data (`protocol_listing`, SPEC §10.4).
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from monitor.cli.context import JsonFlag, print_json, reports_errors, state, wide_console
from monitor.services.protocols import protocol_listing, protocol_sheets


@reports_errors
def protocols(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every protocol (shipped, protocols_dir, config.toml), its panels and their schedules."""
    plans = state(ctx).config.protocols
    if as_json:
        print_json(protocol_listing(plans))
        return
    for sheet in protocol_sheets(plans):
        title = f"{sheet.id}: {sheet.name} ({sheet.kind})\n{sheet.monitoring}"
        table = Table(
            "panel", "analytes", "schedule", "window", "baseline", "sex", "indefinite",
            title=escape(title),
        )  # fmt: skip
        for panel in sheet.panels:
            table.add_row(
                panel.panel,
                escape(", ".join(panel.analytes)),
                escape(panel.schedule),
                escape(panel.window),
                "yes" if panel.baseline else "no",
                escape(panel.sex),
                "yes" if panel.indefinite else "no",
            )
        wide_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("protocols")(protocols)
