"""The Patients page: the list (filtered by site and status), finding a patient by MRN or name,
and the form that adds one (issue 14 item 2).

The site and status filters are GET parameters with fixed vocabularies; the search text, which
holds names and MRNs, is POSTed (CSRF-checked) so it is never in a URL, a browser's history or
a log line (like the audit of one patient, whose MRN is its own path). A search shows its first
`SHOWN` matches; the list pages by `PAGE_SIZE`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.domain.vocabulary import PatientStatus
from monitor.errors import InvalidInput
from monitor.services.people.details import allowed_sites, checked_site
from monitor.services.people.directory import patient_list
from monitor.services.people.patients import SEXES, add_patient
from monitor.web.deps import WebDeps, current_user, deps
from monitor.web.forms import form_date, paginate, refusal, text
from monitor.web.render import page
from monitor.web.security import add_flash, checked_form

SHOWN = 200
STATUSES = [s.value for s in PatientStatus]


def _filters(values: QueryParams | FormData, known_sites: list[str]) -> dict[str, Any]:
    site = values.get("site")
    status = values.get("status")
    return {
        "site": site if isinstance(site, str) and site in known_sites else None,
        "status": PatientStatus(status) if status in STATUSES else None,
    }


def _context(
    session: Session, app: WebDeps, filters: dict[str, Any], search: str | None
) -> dict[str, Any]:
    known_sites = allowed_sites(session, app.config)
    lines = patient_list(session, search=search, **filters)
    return {
        "lines": lines,
        "search": search or "",
        "wanted": filters,
        "sites": known_sites,
        "statuses": STATUSES,
        "sexes": SEXES,
        "shown": SHOWN,
        "added": {},
        "error": None,
    }


def patients_page(request: Request) -> Response:
    app = deps(request)
    with app.session() as session:
        filters = _filters(request.query_params, allowed_sites(session, app.config))
        context = _context(session, app, filters, None)
    context["page"] = paginate(context.pop("lines"), request.query_params, "page")
    context["page_url"] = lambda name, number: _page_url(request, name, number)
    return page(request, "patients.html", context)


def _page_url(request: Request, name: str, number: int) -> str:
    """This list's address on page `number`, its filters kept (never a search: it is POSTed)."""
    params = {k: v for k, v in request.query_params.items() if k in ("site", "status")}
    return "/patients?" + urlencode({**params, name: str(number)})


async def search(request: Request) -> Response:
    form = await checked_form(request)
    app = deps(request)

    def run() -> Response:
        with app.session() as session:
            filters = _filters(form, allowed_sites(session, app.config))
            context = _context(session, app, filters, text(form, "q"))
        lines = context.pop("lines")
        context["found"] = lines[:SHOWN]
        context["matches"] = len(lines)
        return page(request, "patients.html", context)

    return await run_in_threadpool(run)


async def add(request: Request) -> Response:
    form = await checked_form(request)
    app, user = deps(request), current_user(request)

    def run() -> Response:
        try:
            with app.session() as session:
                mrn = _add(session, app, form, user.actor)
        except InvalidInput as error:
            return _refused(request, form, refusal(error))
        add_flash(request.session, "ok", "Patient added.")
        return RedirectResponse(f"/patients/{mrn}", status_code=303)

    return await run_in_threadpool(run)


def _add(session: Session, app: WebDeps, form: FormData, actor: str) -> str:
    site = checked_site(text(form, "site") or "", allowed_sites(session, app.config))
    patient = add_patient(
        session,
        mrn=text(form, "mrn", required=True, label="The MRN") or "",
        name=text(form, "name", required=True, label="The name") or "",
        email=text(form, "email"),
        born_on=form_date(form, "dob", "The date of birth", required=False),
        sex=text(form, "sex"),
        site=site,
        actor=actor,
        now=app.now(),
    )
    return patient.mrn


def _refused(request: Request, form: FormData, reason: str) -> Response:
    app = deps(request)
    with app.session() as session:
        context = _context(session, app, {"site": None, "status": None}, None)
    context["page"] = paginate(context.pop("lines"), request.query_params, "page")
    context["page_url"] = lambda name, number: _page_url(request, name, number)
    context["error"] = reason
    context["added"] = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    return page(request, "patients.html", context, status_code=400)


def routes() -> list[BaseRoute]:
    return [
        Route("/patients", patients_page, methods=["GET"]),
        Route("/patients", search, methods=["POST"]),
        Route("/patients/add", add, methods=["POST"]),
    ]
