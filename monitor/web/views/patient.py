"""The patient page: record, one schedule grid per treatment, results and charts, flags,
emails, and the forms that act on them (their handlers are in `views.actions`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.domain.phases import Kind
from monitor.domain.units import ANALYTES, ORDINAL_SCALES, UNITS
from monitor.domain.vocabulary import PatientStatus
from monitor.services.people.record import patient_record
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.services.schedule.view import patient_schedule
from monitor.services.schedule.waivers import waivable
from monitor.web.charts import patient_charts
from monitor.web.deps import WebDeps, deps
from monitor.web.grid import EVENT_MARKS, STATUS_MARKS, treatment_grids
from monitor.web.render import page
from monitor.web.timeline import all_events
from monitor.web.views.edit_forms import edit_context

RECENT_RESULTS = 20


def patient_context(session: Session, app: WebDeps, mrn: str) -> dict[str, Any]:
    """Everything the patient page shows (NotFound for an unknown MRN)."""
    today = app.today()
    catalogue = app.config.catalogue
    record = patient_record(session, mrn, catalogue, today)
    require_current_schedules(session, catalogue)
    view = patient_schedule(session, mrn, today, catalogue, today)
    events = all_events(record.treatments)
    charts = patient_charts(record.results, events, app.config.rule_settings, record.sex, today)
    return {
        "patient": record,
        "status": record.derived_status,
        "warnings": record.warnings,
        "schedule": view,
        "treatments": record.treatments,
        "grids": treatment_grids(view.slots, record.treatments, catalogue, today),
        "marks": STATUS_MARKS,
        "event_marks": EVENT_MARKS,
        "event_kinds": sorted({event.kind.value for event in events}),
        "several_protocols": len({t.protocol for t in record.treatments}) > 1,
        "startable": [plan for plan in catalogue.plans if plan.kind is Kind.CONTINUOUS],
        "stoppable": [
            t for t in record.treatments if t.kind == Kind.CONTINUOUS and t.stopped_on is None
        ],
        "results": record.results[:RECENT_RESULTS],
        "older_results": record.results[RECENT_RESULTS:],
        "charts": charts,
        "open_flags": record.open_flags,
        "closed_flags": record.closed_flags,
        "waivable": waivable(view, today),
        "emails": record.emails,
        "analytes": ANALYTES,
        "units": sorted({unit for unit, _ in UNITS.values()}),
        "ordinals": ORDINAL_SCALES,
        "statuses": [s.value for s in PatientStatus],
        "error": None,
        **edit_context(session, app, record),
    }


def patient_page(request: Request) -> Response:
    app = deps(request)
    with app.session() as session:
        context = patient_context(session, app, request.path_params["mrn"])
        return page(request, "patient.html", context)


def routes() -> list[BaseRoute]:
    return [Route("/patients/{mrn}", patient_page, methods=["GET"])]
