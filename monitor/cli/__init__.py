"""The `monitor` command (SPEC §7). Each submodule adds one group of commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.lazy import CommandLoader, LazyCommand, lazy_group_class
from monitor.cli.root import GlobalOptions, command_group
from monitor.log import guard_library_logging

# Every top-level command: the modules that add to it, and the first sentence of its help (what
# `monitor --help` prints without importing any of them: monitor/cli/lazy.py).
COMMANDS = {
    "demo": LazyCommand(
        ("system",),
        (
            "Build a synthetic clinic in ./monitor-demo.db, print today's overdue list, run one"
            " daily cycle, write its emails to ./monitor-demo-mail/ and print the commands that"
            " open it in the nurses' worklist."
        ),
    ),
    "results": LazyCommand(("results",), "Every stored result of a patient, newest first."),
    "schedule": LazyCommand(
        ("lists",), "A patient's slots with their status as of a date (default today)."
    ),
    "overdue": LazyCommand(
        ("lists",),
        "The nurses' list: every overdue slot of every active patient, most overdue first.",
    ),
    "flags": LazyCommand(
        ("safety",),
        "Open safety flags (all flags with --all): one row per result, most severe first.",
    ),
    "audit": LazyCommand(
        ("safety",),
        "The audit log (every change a person made), oldest first; one patient's with MRN.",
    ),
    "daily": LazyCommand(
        ("notices",), "One daily cycle: decide reminders and digests as of a date and queue them."
    ),
    "send": LazyCommand(
        ("mail",), "Deliver what is pending now: emails, and text messages when [sms] is enabled."
    ),
    "preview": LazyCommand(
        ("preview",),
        "Render a message with sample data (or a patient's) and write its HTML to a file.",
    ),
    "run": LazyCommand(
        ("operations",),
        "Run the service: the daily cycle at clinic.daily_at, the outbox every minute.",
    ),
    "status": LazyCommand(
        ("operations",),
        (
            "Health of the service; exits 1 when a problem is listed: today's cycle missing or"
            " setting patients aside, mail failing, a digest not built, or placeholders in"
            " config.toml."
        ),
    ),
    "protocols": LazyCommand(
        ("protocols",),
        "Every protocol (shipped, protocols_dir, config.toml), its panels and their schedules.",
    ),
    "import": LazyCommand(
        ("imports",),
        "Import lab results; what cannot be taken in goes to the quarantine with a reason.",
    ),
    "listen-hl7": LazyCommand(
        ("imports",), "Receive HL7 v2 results over MLLP until SIGINT or SIGTERM."
    ),
    "serve": LazyCommand(
        ("web",), "Serve the nurses' worklist (sign in with an account from `monitor user add`)."
    ),
    "letters": LazyCommand(
        ("letters",), "Print the reminder letters waiting (address page, then letter) into one PDF."
    ),
    "request-form": LazyCommand(
        ("forms",),
        "Print one patient's lab request form: the tests overdue or due soon, with LOINC codes.",
    ),
    "request-forms": LazyCommand(
        ("forms",),
        (
            "Print a request form for every patient with lab tests overdue or due soon (one PDF,"
            " a page per patient)."
        ),
    ),
    "export": LazyCommand(
        ("exports",),
        "Write the overdue list with contact details, every flag, or the whole audit trail.",
    ),
    "db": LazyCommand(("system",), "Database schema."),
    "patient": LazyCommand(
        ("records", "edits", "notices", "onboarding", "safety", "calendars"), "Patients."
    ),
    "course": LazyCommand(("records", "edits"), "Infusion courses."),
    "treatment": LazyCommand(("treatments",), "Continuous treatments (a start and maybe a stop)."),
    "result": LazyCommand(("results", "edits"), "Lab results."),
    "flag": LazyCommand(("safety",), "Safety flags."),
    "slot": LazyCommand(("safety",), "Schedule slots."),
    "outbox": LazyCommand(
        ("mail",), "Every email decided, with its status; confirm or re-send an unconfirmed one."
    ),
    "quarantine": LazyCommand(
        ("quarantine",), "Results that could not be imported, with the reason."
    ),
    "user": LazyCommand(("web",), "Worklist accounts."),
    "report": LazyCommand(("reports",), "Reports for the service lead: adherence, the REMS list."),
    "token": LazyCommand(("tokens",), "API tokens for the FHIR API."),
    "contact": LazyCommand(("contacts",), "The contact log: calls and letters to patients."),
}
TYPER_OPTIONS = {"rich_markup_mode": None, "pretty_exceptions_enable": False}
LOADER = CommandLoader(COMMANDS, **TYPER_OPTIONS)

app = command_group(
    "Alemtuzumab safety monitor: schedules, results and the nurses' overdue list.",
    name="monitor",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=lazy_group_class(LOADER),
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
    ctx.obj = GlobalOptions(config_path=config, database_url=database)


def main() -> None:
    guard_library_logging()
    app()
