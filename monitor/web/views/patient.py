"""The patient page: record, schedule grid, results and charts, flags, emails, and the forms
that act on them (their handlers are in `views.actions`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.domain.courses import course_warnings
from monitor.domain.units import ANALYTES, ORDINAL_SCALES, UNITS
from monitor.domain.vocabulary import PatientStatus
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.services.schedule.slots import domain_courses
from monitor.services.schedule.view import derived_status, patient_schedule
from monitor.services.schedule.waivers import waivable
from monitor.store.queries import find_patient
from monitor.web import lookups
from monitor.web.charts import patient_charts
from monitor.web.deps import WebDeps, deps
from monitor.web.grid import STATUS_MARKS, schedule_grid
from monitor.web.render import page

RECENT_RESULTS = 20


def patient_context(session: Session, app: WebDeps, mrn: str) -> dict[str, Any]:
    """Everything the patient page shows (NotFound for an unknown MRN)."""
    today = app.today()
    protocol = app.config.monitoring_protocol
    patient = find_patient(session, mrn)
    require_current_schedules(session, protocol)
    view = patient_schedule(session, mrn, today, protocol)
    courses = domain_courses(patient)
    results = lookups.patient_results(session, patient.id)
    flags = lookups.patient_flags(session, patient.id)
    infusions = [day for course in courses for day in course.dates]
    return {
        "patient": patient,
        "status": derived_status(patient, view.monitoring_end, today),
        "courses": courses,
        "warnings": course_warnings(courses),
        "schedule": view,
        "grid": schedule_grid(view.slots, protocol.panel_names, view.monitoring_end, today),
        "marks": STATUS_MARKS,
        "results": results[:RECENT_RESULTS],
        "older_results": results[RECENT_RESULTS:],
        "charts": patient_charts(results, infusions, app.config.rule_settings, patient.sex, today),
        "open_flags": [group for group in flags if group.is_open],
        "closed_flags": [group for group in flags if not group.is_open],
        "waivable": waivable(view, today),
        "emails": lookups.patient_emails(session, patient.id),
        "analytes": ANALYTES,
        "units": sorted({unit for unit, _ in UNITS.values()}),
        "ordinals": ORDINAL_SCALES,
        "statuses": [s.value for s in PatientStatus],
        "error": None,
    }


def patient_page(request: Request) -> Response:
    app = deps(request)
    with app.session() as session:
        context = patient_context(session, app, request.path_params["mrn"])
        return page(request, "patient.html", context)


def routes() -> list[BaseRoute]:
    return [Route("/patients/{mrn}", patient_page, methods=["GET"])]
