"""The caseload upload (administrators): check a spreadsheet, see what it would change, import
it. The same reader and service as `monitor patient import` (`adapters.caseload`,
`services.people.onboarding`): every row is checked first; with any bad row nothing is written
unless "skip the bad patients" is ticked, and the bad rows are listed with their line numbers.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.adapters.caseload import SUFFIXES, read_named
from monitor.errors import InvalidInput
from monitor.services.people.onboarding import (
    ImportPlan,
    PartlyWritten,
    check_caseload,
    write_caseload,
)
from monitor.web.deps import WebDeps, WebUser, deps, require_admin
from monitor.web.render import page
from monitor.web.security import checked_form

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # a 10,000-patient CSV is about 2 MB


def import_page(request: Request) -> Response:
    require_admin(request)
    return page(request, "import.html", {"result": None, "error": None})


async def import_upload(request: Request) -> Response:
    user = require_admin(request)
    parsed = await request.form()  # the upload's temporary file: closed whatever happens
    try:
        return await _import(request, user, await checked_form(request))
    finally:
        await parsed.close()


async def _import(request: Request, user: WebUser, form: FormData) -> Response:
    upload = form.get("file")
    skip_bad = form.get("skip_bad") == "on"
    dry_run = form.get("action") != "import"
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _shown(request, None, "Choose a .csv or .xlsx file to upload.", 400)
    name = upload.filename
    if not name.lower().endswith(SUFFIXES):
        return _shown(request, None, "The file must be a .csv or .xlsx spreadsheet.", 400)
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _shown(request, None, "The file is over 20 MB: split it.", 400)
    app = deps(request)
    outcome = await run_in_threadpool(_run, app, user, name, data, dry_run, skip_bad)
    if isinstance(outcome, PartlyWritten):
        return _shown(request, None, str(outcome), 500)
    if isinstance(outcome, InvalidInput):
        return _shown(request, None, f"Not imported: {outcome}", 400)
    result = {**outcome, "file": name, "skip_bad": skip_bad}
    return _shown(request, result, None, 400 if outcome["refused"] else 200)


def _run(
    app: WebDeps, user: WebUser, name: str, data: bytes, dry_run: bool, skip_bad: bool
) -> dict[str, Any] | InvalidInput | PartlyWritten:
    try:
        read = read_named(name, data)
        with app.session() as session:
            plan = check_caseload(session, read.rows, read.problems, today=app.today())
    except InvalidInput as error:
        return error
    refused = bool(plan.errors) and not skip_bad
    written = not refused and not dry_run
    if written:
        try:
            write_caseload(app.engine, app.config.catalogue, plan, actor=user.actor, now=app.now())
        except PartlyWritten as error:  # some chunks are committed: say so, not "nothing"
            return error
    return _result(plan, dry_run=dry_run, refused=refused, written=written)


def _result(plan: ImportPlan, *, dry_run: bool, refused: bool, written: bool) -> dict[str, Any]:
    return {
        "counts": plan.counts(),
        "errors": plan.errors,
        "dry_run": dry_run,
        "refused": refused,
        "written": written,
    }


def _shown(
    request: Request, result: dict[str, Any] | None, error: str | None, status: int
) -> Response:
    return page(request, "import.html", {"result": result, "error": error}, status_code=status)


def routes() -> list[BaseRoute]:
    """Before the patient page's routes: `/patients/import` is not an MRN."""
    return [
        Route("/patients/import", import_page, methods=["GET"]),
        Route("/patients/import", import_upload, methods=["POST"]),
    ]
