"""The filterable lists: Flags, Quarantine, Outbox (administrators only) and Audit.

Filters are plain GET parameters with fixed vocabularies (status, severity, site, action...);
an MRN is never a query parameter, so the audit of one patient is its own path.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.domain.dates import EARLIEST_DATE, LATEST_DATE
from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus, OutboxStatus, QuarantineStatus
from monitor.services.audit import AuditFilter, audit_actions, audit_list
from monitor.services.listing import LIMIT
from monitor.services.mail.history import outbox_kinds, outbox_list
from monitor.services.people.record import patient_ref, sites
from monitor.services.results.flagged import FlagFilter, flag_list
from monitor.services.results.quarantine import drop_item
from monitor.services.results.quarantined import quarantine_list
from monitor.web.deps import WebDeps, WebUser, deps, require_admin
from monitor.web.forms import choice, text
from monitor.web.render import page
from monitor.web.security import checked_form
from monitor.web.views.actions import apply

QUARANTINE_FORMATS = ("hl7", "fhir", "csv")


def flags_page(request: Request) -> Response:
    params = request.query_params
    with deps(request).session() as session:
        known_sites = sites(session)
        status = params.get("status", FlagStatus.OPEN.value)
        wanted = FlagFilter(
            status=status if status in {s.value for s in FlagStatus} else None,
            severity=choice(params, "severity", [s.value for s in Severity]),
            site=choice(params, "site", known_sites),
        )
        context = {
            "rows": flag_list(session, wanted, limit=LIMIT),
            "wanted": wanted,
            "sites": known_sites,
            "statuses": [s.value for s in FlagStatus],
            "severities": [s.value for s in Severity],
            "limit": LIMIT,
        }
        return page(request, "flags.html", context)


def quarantine_page(request: Request) -> Response:
    params = request.query_params
    given = params.get("status", QuarantineStatus.OPEN.value)
    status = given if given in {s.value for s in QuarantineStatus} else None
    fmt = choice(params, "format", QUARANTINE_FORMATS)
    with deps(request).session() as session:
        context = {
            "rows": quarantine_list(session, status, fmt),
            "status": status,
            "format": fmt,
            "statuses": [s.value for s in QuarantineStatus],
            "formats": QUARANTINE_FORMATS,
            "limit": LIMIT,
        }
        return page(request, "quarantine.html", context)


async def quarantine_drop(request: Request) -> Response:
    form = await checked_form(request)
    item_id = int(request.path_params["item_id"])

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        reason = text(form, "reason", required=True, label="The reason") or ""
        drop_item(session, item_id, reason=reason, actor=user.actor, now=app.now())
        return f"Quarantine item {item_id} dropped."

    return await apply(request, change, "/quarantine", None)


def outbox_page(request: Request) -> Response:
    require_admin(request)
    params = request.query_params
    with deps(request).session() as session:
        kinds = outbox_kinds(session)
        status = choice(params, "status", [s.value for s in OutboxStatus])
        kind = choice(params, "message", kinds)
        context = {
            "rows": outbox_list(session, status, kind),
            "status": status,
            "kind": kind,
            "statuses": [s.value for s in OutboxStatus],
            "kinds": kinds,
            "limit": LIMIT,
        }
        return page(request, "outbox.html", context)


def audit_page(request: Request) -> Response:
    mrn = request.path_params.get("mrn")
    if mrn is None and request.query_params.get("mrn"):
        # The filter form's MRN box: move it out of the query string into the path.
        rest = request.url.remove_query_params("mrn").query
        target = f"/audit/patients/{request.query_params['mrn'].strip()}"
        return RedirectResponse(target + (f"?{rest}" if rest else ""), status_code=303)
    params = request.query_params
    with deps(request).session() as session:
        patient = patient_ref(session, mrn) if mrn is not None else None
        actions = audit_actions(session)
        since, until = _day(params.get("from")), _day(params.get("to"))
        zone = ZoneInfo(deps(request).config.clinic.timezone)
        wanted = AuditFilter(
            patient_id=patient.id if patient is not None else None,
            action=choice(params, "action", actions),
            actor=(params.get("actor") or "").strip()[:200] or None,
            since=_start(since, zone),
            until=_start(until + timedelta(days=1), zone) if until else None,
        )
        context = {
            "rows": audit_list(session, wanted, newest_first=True, limit=LIMIT),
            "patient": patient,
            "wanted": wanted,
            "actions": actions,
            "since": since,
            "until": until,
            "limit": LIMIT,
        }
        return page(request, "audit.html", context)


def _day(value: str | None) -> date | None:
    """A filter date; one that is not a date, or outside the supported calendar, is ignored."""
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return day if day is not None and EARLIEST_DATE <= day <= LATEST_DATE else None


def _start(day: date | None, zone: ZoneInfo) -> datetime | None:
    """The instant a clinic day starts (audit times are stored in UTC)."""
    return datetime.combine(day, time(), tzinfo=zone) if day is not None else None


def routes() -> list[BaseRoute]:
    return [
        Route("/flags", flags_page, methods=["GET"]),
        Route("/quarantine", quarantine_page, methods=["GET"]),
        Route("/quarantine/{item_id:int}/drop", quarantine_drop, methods=["POST"]),
        Route("/outbox", outbox_page, methods=["GET"]),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/audit/patients/{mrn}", audit_page, methods=["GET"]),
    ]
