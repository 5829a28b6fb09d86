"""`monitor request-form` and `monitor request-forms`: lab request forms as PDF (issue 14)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.context import parse_date, reports_errors, state, warn
from monitor.config import ClinicConfig, holds_placeholder
from monitor.errors import InvalidInput
from monitor.services.schedule.request_form_print import form_filename, request_forms_pdf
from monitor.services.schedule.request_forms import (
    DEFAULT_DUE_WITHIN,
    request_form,
    request_forms,
)

OnOption = Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD (default today)")]
DueWithin = Annotated[
    int, typer.Option("--due-within", help="days ahead to include (overdue tests always are)")
]


@reports_errors
def request_form_command(
    ctx: typer.Context,
    mrn: str,
    out: Annotated[
        Path | None, typer.Option("--out", help="PDF file (default ./request-form-MRN.pdf)")
    ] = None,
    on_date: OnOption = None,
    due_within: DueWithin = DEFAULT_DUE_WITHIN,
) -> None:
    """Print one patient's lab request form: the tests overdue or due soon, with LOINC codes."""
    app_state = state(ctx)
    on = parse_date(on_date, "--on") if on_date is not None else app_state.today()
    config = app_state.config
    with app_state.session(current_schedules=True) as session:
        form = request_form(session, mrn, on, config.catalogue, config.code_map.loinc, due_within)
    path = out if out is not None else Path(form_filename(form.mrn))
    warn_placeholders(config.clinic)
    write_pdf(path, request_forms_pdf([form], config.clinic))
    typer.echo(f"request form for {form.mrn} ({len(form.tests)} tests) written to {path}")


@reports_errors
def request_forms_command(
    ctx: typer.Context,
    due_within: DueWithin = DEFAULT_DUE_WITHIN,
    site: Annotated[str | None, typer.Option("--site", help="one site only")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="PDF file (default ./request-forms-DATE.pdf)")
    ] = None,
    on_date: OnOption = None,
) -> None:
    """Print a request form for every patient with lab tests overdue or due soon (one PDF, a
    page per patient). Nobody due: nothing is written."""
    app_state = state(ctx)
    on = parse_date(on_date, "--on") if on_date is not None else app_state.today()
    config = app_state.config
    with app_state.session(current_schedules=True) as session:
        forms = request_forms(
            session, on, config.catalogue, config.code_map.loinc, due_within, site
        )
    if not forms:
        typer.echo(f"no patient has lab tests overdue or due within {due_within} days of {on}")
        return
    path = out if out is not None else Path(f"request-forms-{on}.pdf")
    warn_placeholders(config.clinic)
    write_pdf(path, request_forms_pdf(forms, config.clinic))
    typer.echo(f"{len(forms)} request forms written to {path}")


def warn_placeholders(clinic: ClinicConfig) -> None:
    """A form sends the lab back to the clinic: say so when its name or phone is unset."""
    for key, value in (("clinic.name", clinic.name), ("clinic.phone", clinic.phone)):
        if holds_placeholder(key, [value]):
            warn(f"{key} is the shipped placeholder {value!r}: the form prints it; set it")


def write_pdf(path: Path, pdf: bytes) -> None:
    """Write whole or not at all: a temporary file beside `path`, renamed over it."""
    try:
        folder = path.resolve().parent
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".request-form-", suffix=".pdf")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(pdf)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise InvalidInput(f"--out {path}: cannot write it ({error.strerror or error})") from None


def register(app: typer.Typer) -> None:
    app.command("request-form")(request_form_command)
    app.command("request-forms")(request_forms_command)
