"""Downloads: the overdue list with contact details (CSV or Excel, the Today page's site and
panel filters), the flags (the Flags page's filters) and the audit trail, as CSV. Each is the
sheet `monitor export` writes (`services.exports`), so a download and the command agree."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.adapters.spreadsheets import FORMATS, MEDIA_TYPES, encoded
from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus
from monitor.services.audit import AuditFilter
from monitor.services.exports import Sheet, audit_sheet, flags_sheet, overdue_sheet
from monitor.services.people.record import sites
from monitor.services.results.flagged import FlagFilter
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.web.deps import deps
from monitor.web.forms import choice


def _format(request: Request) -> str:
    fmt = request.path_params["fmt"]
    if fmt not in FORMATS:
        raise HTTPException(404, "There is no such download.")
    return str(fmt)


def _download(sheet: Sheet, name: str, fmt: str) -> Response:
    return Response(
        encoded(sheet, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"content-disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def overdue_download(request: Request) -> Response:
    fmt, app = _format(request), deps(request)
    params = request.query_params
    with app.session() as session:
        require_current_schedules(session, app.config.catalogue)
        on = app.today()
        sheet = overdue_sheet(
            session,
            on,
            app.config.catalogue,
            ZoneInfo(app.config.clinic.timezone),
            site=choice(params, "site", sites(session)),
            panel=choice(params, "panel", app.config.catalogue.panel_names),
            include_booked=params.get("booked") == "show",
        )
    return _download(sheet, f"overdue-contacts-{on.isoformat()}", fmt)


def flags_download(request: Request) -> Response:
    fmt, app = _format(request), deps(request)
    params = request.query_params
    with app.session() as session:
        status = params.get("status", FlagStatus.OPEN.value)
        wanted = FlagFilter(
            status=status if status in {s.value for s in FlagStatus} else None,
            severity=choice(params, "severity", [s.value for s in Severity]),
            site=choice(params, "site", sites(session)),
        )
        sheet = flags_sheet(session, wanted, ZoneInfo(app.config.clinic.timezone))
    return _download(sheet, f"flags-{app.today().isoformat()}", fmt)


def audit_download(request: Request) -> Response:
    fmt, app = _format(request), deps(request)
    with app.session() as session:
        sheet = audit_sheet(session, AuditFilter(), ZoneInfo(app.config.clinic.timezone))
    return _download(sheet, f"audit-{app.today().isoformat()}", fmt)


def routes() -> list[BaseRoute]:
    return [
        Route("/export/overdue.{fmt}", overdue_download, methods=["GET"]),
        Route("/export/flags.{fmt}", flags_download, methods=["GET"]),
        Route("/export/audit.{fmt}", audit_download, methods=["GET"]),
    ]
