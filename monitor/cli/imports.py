"""`monitor import FILE...` and `monitor listen-hl7` (issue 5; SPEC §9 "Import")."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from monitor import clock
from monitor.adapters import limits
from monitor.adapters.formats import FORMATS, guess_format, oversized_file, parse_text
from monitor.adapters.hl7 import decode
from monitor.adapters.mllp import Hl7Listener
from monitor.cli.context import AppState, JsonFlag, print_json, reports_errors, state
from monitor.config import Config
from monitor.domain.fields import MRN_LENGTH, SOURCE_LENGTH, checked_line
from monitor.errors import InvalidInput, MonitorError
from monitor.log import configure_logging
from monitor.services.people.record import patient_ref
from monitor.services.results.imports import (
    ImportContext,
    ImportReport,
    file_chunks,
    import_items,
    unreadable_document,
)
from monitor.services.results.incoming import Parsed
from monitor.store.db import make_session

HEAD_BYTES = 64 * 1024  # what is read of a file over the size limit


@reports_errors
def import_files(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="files or folders (every file inside)")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, hl7 or fhir")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="source name (else from the file)")
    ] = None,
    patient: Annotated[
        str | None, typer.Option("--patient", help="MRN for results that name no patient")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show, write nothing")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import lab results; what cannot be taken in goes to the quarantine with a reason."""
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if source is not None:
        source = checked_line(source, "--source", SOURCE_LENGTH)
    if patient is not None:
        patient = checked_line(patient, "--patient", MRN_LENGTH)
    app_state = state(ctx)
    paths = _expand(files)
    for path in paths:  # every file can be read before any is imported
        _size(path)
    context = ImportContext(app_state.config, app_state.today(), clock.now_utc(), patient)
    total = ImportReport()
    if patient is not None:
        with app_state.session() as session:
            patient_ref(session, patient)
    per_file = []
    protocol = app_state.config.catalogue  # slots are rebuilt from it at each commit
    with make_session(app_state.engine(), protocol) as session:
        for path in paths:  # one file in memory at a time
            report = _import_document(session, path, (fmt, source), context, dry_run=dry_run)
            if not as_json:
                _print_report(str(path), report)
            per_file.append({"file": str(path), **report_json(report)})
            total.add(report)
    if as_json:
        print_json({"files": per_file, **report_json(total, with_items=False), "dry_run": dry_run})
        return
    if len(paths) > 1:
        _print_report("total", total)
    if dry_run:
        typer.echo("dry run: nothing was written")


def _import_document(
    session: Session,
    path: Path,
    given: tuple[str | None, str | None],
    context: ImportContext,
    *,
    dry_run: bool,
) -> ImportReport:
    """One file. A database error stops the import (exit 1); any other fault in reading or
    storing it quarantines this file whole, and the next file is imported (issue 11 item 5)."""
    fmt, source = given
    try:
        items = _parse_file(path, fmt, context.config, source)
        return _import_one(session, items, context, dry_run=dry_run)
    except (SQLAlchemyError, MonitorError):
        raise
    except Exception as error:
        text = decode(_read(path, limits.MAX_FILE_BYTES))
        kind = fmt or guess_format(text) or "unknown"
        problem = unreadable_document(error, source or kind, kind, text)
        return _import_one(session, [problem], context, dry_run=dry_run)


def _import_one(
    session: Session, items: list[Parsed], context: ImportContext, *, dry_run: bool
) -> ImportReport:
    """A file in chunks of about 200 messages, one transaction each (`file_chunks`); a dry run
    is one transaction, rolled back."""
    if dry_run:
        return _import_chunk(session, items, context, dry_run=True)
    report = ImportReport()
    for chunk in file_chunks(items):
        report.add(_import_chunk(session, chunk, context, dry_run=False))
    return report


def _import_chunk(
    session: Session, items: list[Parsed], context: ImportContext, *, dry_run: bool
) -> ImportReport:
    """One transaction: committed, or rolled back for a dry run."""
    transaction = session.begin()
    try:
        report = import_items(session, items, context)
    except BaseException:
        transaction.rollback()
        raise
    if dry_run:
        transaction.rollback()
    else:
        transaction.commit()
    return report


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; a folder gives every visible file in it, in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            found.append(path)
    return found


def _parse_file(path: Path, fmt: str | None, config: Config, source: str | None) -> list[Parsed]:
    """A file's items; a file over the size limit is not read beyond its first bytes."""
    size = _size(path)
    if size > limits.MAX_FILE_BYTES:
        return oversized_file(decode(_read(path, HEAD_BYTES)), size, fmt, source=source)
    return parse_text(decode(_read(path)), fmt, config, source=source)


def _size(path: Path) -> int:
    try:
        with path.open("rb"):
            return path.stat().st_size
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from None


def _read(path: Path, limit: int = -1) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(limit)
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from None


def report_json(report: ImportReport, *, with_items: bool = True) -> dict[str, Any]:
    """The counts `_print_report` prints, and each quarantined item's id and reason."""
    counts: dict[str, Any] = {
        "stored": report.stored,
        "duplicates": report.duplicates,
        "quarantined": report.quarantined,
        "skipped": report.skipped,
    }
    if with_items:
        counts["quarantine"] = [
            {"id": item_id, "reason": reason}
            for item_id, reason in zip(report.quarantine_ids, report.problems, strict=False)
        ]
    return counts


def _print_report(label: str, report: ImportReport) -> None:
    typer.echo(
        f"{label}: {report.stored} stored, {report.duplicates} already there, "
        f"{report.quarantined} quarantined, {report.skipped} not results"
    )
    for item_id, reason in zip(report.quarantine_ids, report.problems, strict=False):
        typer.echo(f"  quarantine {item_id}: {reason}")


@reports_errors
def listen_hl7(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="else [hl7] host")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="else [hl7] port; 0 picks a free port"),
    ] = None,
) -> None:
    """Receive HL7 v2 results over MLLP until SIGINT or SIGTERM."""
    app_state = state(ctx)
    configure_logging(app_state.config.logging)
    listener = make_listener(app_state, host, port)
    bound = listener.start()
    typer.echo(f"listening for HL7 (MLLP) on {listener.host}:{bound}")
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopping.wait()
    listener.stop()
    typer.echo("stopped")


def make_listener(app_state: AppState, host: str | None, port: int | None) -> Hl7Listener:
    config = app_state.config
    return Hl7Listener(
        app_state.engine(),
        config,
        host or config.hl7.host,
        config.hl7.port if port is None else port,
        now_fn=clock.now_utc,
        today_fn=app_state.today,
    )


def register(app: typer.Typer) -> None:
    app.command("import")(import_files)
    app.command("listen-hl7")(listen_hl7)
