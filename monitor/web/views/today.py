"""Today: the page a nurse opens each morning, and its CSV download.

Sections, in the order a nurse acts on them: open urgent/emergency flags; the overdue list
(patients with such a flag first, then most overdue); reminders that could not be sent and why;
tests due this week. Long lists are paged (50 patients a page); the CSV has everything.

Beside each overdue patient: their phone, their last contact and a form to record one
(`views.contacts`). Patients booked ahead are left out (`chasing.split_booked`, as `monitor
overdue` does), counted, and shown with `?booked=show`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.adapters.cells import safe_cell
from monitor.services.mail.unreachable import unreachable
from monitor.services.people.contacts import OUTCOMES, booked_ahead
from monitor.services.people.record import patient_names
from monitor.services.results.alerts import alert_levels, open_alerts
from monitor.services.schedule.chasing import reach, split_booked
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.services.schedule.worklist import Line
from monitor.web.cache import WorklistCache
from monitor.web.deps import deps
from monitor.web.forms import choice, paginate
from monitor.web.render import page
from monitor.web.worklist import Snapshot, flagged_first, for_display, keep

# `protocol` (the id, as `overdue --json`) came with issue 13 and goes last, so a sheet that
# reads the older columns by position still reads them.
CSV_COLUMNS = (
    "mrn",
    "name",
    "site",
    "panel",
    "due_on",
    "days_overdue",
    "missed",
    "open_flag",
    "protocol",
)


@dataclass(frozen=True)
class Filters:
    site: str | None
    panel: str | None


def _cache(request: Request) -> WorklistCache:
    cache: WorklistCache = request.app.state.worklist
    return cache


def _snapshot(request: Request, session: Session) -> Snapshot:
    """The lists, once the stored slots are known to come from the configured protocol."""
    app = deps(request)
    require_current_schedules(session, app.config.catalogue)
    return _cache(request).get(session, app.today(), app.config.catalogue)


def _filters(request: Request, snapshot: Snapshot) -> Filters:
    panels = deps(request).config.catalogue.panel_names
    return Filters(
        choice(request.query_params, "site", snapshot.sites),
        choice(request.query_params, "panel", panels),
    )


def today(request: Request) -> Response:
    with deps(request).session() as session:
        snapshot = _snapshot(request, session)
        wanted = _filters(request, snapshot)
        alerts = open_alerts(session, wanted.site)
        worst = alert_levels(alerts)
        listed = flagged_first(keep(snapshot.overdue, wanted.site, wanted.panel), worst)
        booked = booked_ahead(session, snapshot.on)
        shown, hidden = split_booked(listed, booked)
        show_booked = request.query_params.get("booked") == "show"
        overdue = listed if show_booked else shown
        overdue_page = paginate(overdue, request.query_params, "page")
        week_page = paginate(
            keep(snapshot.week, wanted.site, wanted.panel), request.query_params, "week"
        )
        on_page = for_display(session, [*overdue_page.items, *week_page.items], worst)
        context = {
            "on": snapshot.on,
            "sites": snapshot.sites,
            "panels": deps(request).config.catalogue.panel_names,
            "wanted": wanted,
            "alerts": alerts,
            "overdue": overdue_page,
            "overdue_lines": on_page[: len(overdue_page.items)],
            "week": week_page,
            "week_lines": on_page[len(overdue_page.items) :],
            "reach": reach(session, [line.patient_id for line in overdue_page.items]),
            "booked": booked,
            "hidden_booked": len(hidden),
            "show_booked": show_booked,
            "outcomes": OUTCOMES,
            "booked_query": _query(request, site=wanted.site, panel=wanted.panel)
            if show_booked
            else _query(request, keep=True, booked="show", page="1"),
            "here": request.url.path + ("?" + request.url.query if request.url.query else ""),
            "unreachable": unreachable(session, snapshot.on, wanted.site),
            "overdue_slots": sum(len(line.items) for line in overdue),
            "filter_query": _query(request, site=wanted.site, panel=wanted.panel),
            "page_url": lambda name, number: _query(request, **{name: str(number)}, keep=True),
        }
        return page(request, "today.html", context)


def today_csv(request: Request) -> Response:
    """The overdue list as CSV, one row per overdue slot, with the page's filters."""
    with deps(request).session() as session:
        snapshot = _snapshot(request, session)
        wanted = _filters(request, snapshot)
        worst = alert_levels(open_alerts(session, wanted.site))
        lines = flagged_first(keep(snapshot.overdue, wanted.site, wanted.panel), worst)
        if request.query_params.get("booked") != "show":
            lines, _ = split_booked(lines, booked_ahead(session, snapshot.on))
        names = patient_names(session, [line.patient_id for line in lines])
    body = _csv(lines, names, worst)
    filename = f"overdue-{snapshot.on.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def _query(request: Request, *, keep: bool = False, **values: str | None) -> str:
    """A query string with `values` set (the current parameters kept when `keep`)."""
    params = dict(request.query_params) if keep else {}
    params.update({k: v for k, v in values.items() if v is not None})
    return "?" + urlencode(params) if params else ""


def _csv(lines: list[Line], names: dict[int, str], worst: dict[int, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        for item in line.items:
            writer.writerow(
                [
                    safe_cell(line.mrn),
                    safe_cell(names.get(line.patient_id, "")),
                    safe_cell(line.site),
                    item.panel,
                    item.due_on.isoformat(),
                    item.days_overdue,
                    item.missed,
                    worst.get(line.patient_id, ""),
                    item.protocol,
                ]
            )
    return out.getvalue()


def routes() -> list[BaseRoute]:
    return [
        Route("/", today, methods=["GET"]),
        Route("/today.csv", today_csv, methods=["GET"]),
    ]
