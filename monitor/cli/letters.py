"""`monitor letters`: the day's reminder letters as one printable PDF (`services.mail.letters`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from monitor import clock
from monitor.cli.context import JsonFlag, cli_actor, parse_date, print_json, reports_errors, state
from monitor.errors import InvalidInput
from monitor.services.mail.letters import print_letters


@reports_errors
def letters(
    ctx: typer.Context,
    on_date: Annotated[
        str | None, typer.Option("--on", help="YYYY-MM-DD: letters decided then or before")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="PDF file (default ./letters-DATE.pdf)")
    ] = None,
    reprint: Annotated[
        bool,
        typer.Option("--reprint", help="also print again the letters already printed for DATE"),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the reminder letters waiting (address page, then letter) into one PDF."""
    app_state = state(ctx)
    on = parse_date(on_date, "--on") if on_date is not None else app_state.today()
    path = out if out is not None else Path(f"letters-{on.isoformat()}.pdf")
    run = print_letters(
        app_state.engine(),
        on=on,
        now_fn=clock.now_utc,
        write=lambda pdf: _write(path, pdf),
        actor=cli_actor(),
        reprint=reprint,
    )
    if as_json:
        print_json({"on": on, "printed": len(run.printed), "reprinted": len(run.reprinted),
                    "pages": run.pages, "waiting": run.waiting,
                    "file": str(path) if run.pages else None})  # fmt: skip
        return
    if not run.pages:
        typer.echo(
            f"no letters to print for {on} (printed ones: add --reprint to print them again)"
        )
    else:
        again = f", {len(run.reprinted)} printed again" if run.reprinted else ""
        typer.echo(f"{len(run.printed)} letter(s) printed{again}: {run.pages} pages in {path}")
    if run.waiting:
        typer.echo(f"{run.waiting} more letter(s) wait: run `monitor letters` again", err=True)


def _write(path: Path, pdf: bytes) -> None:
    """Whole or not at all: a half-written PDF never stands in for the letters."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(pdf)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"--out {path}: cannot write it ({error.strerror or error})") from None


def register(app: typer.Typer) -> None:
    app.command("letters")(letters)
