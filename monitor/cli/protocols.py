"""`monitor protocols`: every configured protocol, its panels and phases (SPEC §10.3)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from monitor.cli.context import JsonFlag, print_json, reports_errors, state, wide_console
from monitor.services.protocols import describe_phases, protocol_listing


@reports_errors
def protocols(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every protocol (shipped, protocols_dir, config.toml), its panels and their phases."""
    listing = protocol_listing(state(ctx).config.protocols)
    if as_json:
        print_json(listing)
        return
    for protocol in listing:
        months = protocol["monitoring_months"]
        ends = "no end" if months is None else f"{months} months"
        if protocol["kind"] == "continuous":
            ends += f", {protocol['after_stop_months']} months after a stop"
        title = f"{protocol['id']}: {protocol['name']} ({protocol['kind']}; monitoring {ends})"
        table = Table(
            "panel", "analytes", "baseline", "window", "schedule", "sex", "indefinite",
            title=escape(title),
        )  # fmt: skip
        for panel in protocol["panels"]:
            table.add_row(
                panel["panel"],
                escape(", ".join(panel["analytes"])),
                "yes" if panel["baseline"] else "no",
                f"-{panel['window_before_days']}/+{panel['window_after_days']} days",
                describe_phases(panel["phases"]),
                panel["sex"] or "",
                "yes" if panel["indefinite"] else "no",
            )
        wide_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("protocols")(protocols)
