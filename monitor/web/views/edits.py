"""Editing the record from the patient page (issue 14 item 2): the patient's details, a new
course, a course's dates corrected or the course deleted, a result corrected or voided.

Each form is one POST, CSRF-checked, calling the same service as the CLI in one transaction
(`views.actions.apply`: audited under `web:<user>`, a refusal shows the page again with the
reason). Nurses may do all of it except deleting a course, which needs an administrator: it
takes a treatment's doses out of the schedule (docs/decisions.md, "Editing the record").
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.domain.courses import consecutive_dates
from monitor.domain.dates import checked_date
from monitor.errors import InvalidInput
from monitor.services.people import course_edits, courses, details
from monitor.services.results import amendments
from monitor.web.deps import WebDeps, WebUser, require_admin
from monitor.web.forms import form_date, form_int, text
from monitor.web.security import checked_form
from monitor.web.views.actions import apply

_DATE_SEPARATORS = re.compile(r"[,;\s]+")


def _here(mrn: str) -> str:
    return f"/patients/{mrn}"


async def edit_details(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        changes = details.PatientChanges(
            name=text(form, "name"),
            born_on=form_date(form, "dob", "The date of birth", required=False),
            sex=text(form, "sex"),
            site=text(form, "site"),
            email=_raw(form, "email"),
            phone=_raw(form, "phone"),
            address=_raw(form, "address"),
            channel=text(form, "channel"),
        )
        changed = details.edit_patient(
            session,
            mrn=mrn,
            changes=changes,
            reason=text(form, "reason"),
            sites=details.allowed_sites(session, app.config),
            actor=user.actor,
            now=app.now(),
        )
        if not changed:
            return "Nothing to change: the details were already so."
        return f"Details saved ({', '.join(changed)})."

    return await apply(request, change, _here(mrn), mrn)


def _raw(form: FormData, name: str) -> str | None:
    """A field that may be emptied (an empty text clears it); None when it was not sent."""
    value = form.get(name)
    return value if isinstance(value, str) else None


async def add_course(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        infused_on = _course_dates(form)
        protocol = text(form, "protocol", required=True, label="The protocol") or ""
        warnings = courses.add_course(
            session,
            mrn=mrn,
            infused_on=infused_on,
            actor=user.actor,
            now=app.now(),
            protocol=protocol,
        )
        said = f"Course added: {infused_on[0]:%d %b %Y} to {infused_on[-1]:%d %b %Y}."
        return " ".join([said, *(f"Note: {line}." for line in warnings)])

    return await apply(request, change, _here(mrn), mrn)


async def correct_course(request: Request) -> Response:
    form = await checked_form(request)
    mrn, number = request.path_params["mrn"], int(request.path_params["number"])

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        infused_on = _course_dates(form)
        warnings = course_edits.correct_course(
            session,
            mrn=mrn,
            number=number,
            infused_on=infused_on,
            reason=text(form, "reason", required=True, label="The reason") or "",
            actor=user.actor,
            now=app.now(),
            protocol=text(form, "protocol", required=True, label="The protocol") or "",
        )
        said = f"Course {number} corrected: {infused_on[0]:%d %b %Y} to {infused_on[-1]:%d %b %Y}."
        return " ".join([said, *(f"Note: {line}." for line in warnings)])

    return await apply(request, change, _here(mrn), mrn)


async def delete_course(request: Request) -> Response:
    require_admin(request)
    form = await checked_form(request)
    mrn, number = request.path_params["mrn"], int(request.path_params["number"])

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        emptied = course_edits.delete_course(
            session,
            mrn=mrn,
            number=number,
            reason=text(form, "reason", required=True, label="The reason") or "",
            actor=user.actor,
            now=app.now(),
            protocol=text(form, "protocol", required=True, label="The protocol") or "",
        )
        return f"Course {number} deleted." + (
            " Its treatment had no other course." if emptied else ""
        )

    return await apply(request, change, _here(mrn), mrn)


async def correct_result(request: Request) -> Response:
    form = await checked_form(request)
    mrn, result_id = request.path_params["mrn"], int(request.path_params["result_id"])

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        done = amendments.correct_result(
            session,
            result_id=_own_result(session, mrn, result_id),
            value=text(form, "value", required=True, label="The value") or "",
            unit=text(form, "unit"),
            reason=text(form, "reason", required=True, label="The reason") or "",
            actor=user.actor,
            now=app.now(),
            today=app.today(),
            config=app.config,
        )
        raised = len(done.flags)
        return f"Result {result_id} corrected (now result {done.result.id})." + (
            f" It raised {raised} flag(s)." if raised else ""
        )

    return await apply(request, change, _here(mrn), mrn)


async def void_result(request: Request) -> Response:
    form = await checked_form(request)
    mrn, result_id = request.path_params["mrn"], int(request.path_params["result_id"])

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        amendments.void_result(
            session,
            result_id=_own_result(session, mrn, result_id),
            reason=text(form, "reason", required=True, label="The reason") or "",
            actor=user.actor,
            now=app.now(),
        )
        return f"Result {result_id} marked entered in error."

    return await apply(request, change, _here(mrn), mrn)


def _own_result(session: Session, mrn: str, result_id: int) -> int:
    """The result, if it is this patient's (a form on one patient's page never edits another's)."""
    if amendments.result_mrn(session, result_id) != mrn.strip():
        raise InvalidInput(f"result {result_id} is not one of {mrn.strip()}'s results")
    return result_id


def _course_dates(form: FormData) -> list[date]:
    """The infusion dates: a list ("dates") or a first date and a number of days."""
    listed = text(form, "dates")
    if listed is not None:
        return [_one_date(value) for value in _DATE_SEPARATORS.split(listed) if value]
    first = form_date(form, "start", "The first infusion date")
    assert first is not None
    return consecutive_dates(
        first, form_int(form, "days", "The number of days"), "The number of days"
    )


def _one_date(value: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"the infusion date {value[:20]!r} is not a date as YYYY-MM-DD"
        ) from None
    return checked_date(parsed, "The infusion date")


def routes() -> list[BaseRoute]:
    return [
        Route("/patients/{mrn}/details", edit_details, methods=["POST"]),
        Route("/patients/{mrn}/courses", add_course, methods=["POST"]),
        Route("/patients/{mrn}/courses/{number:int}/correct", correct_course, methods=["POST"]),
        Route("/patients/{mrn}/courses/{number:int}/delete", delete_course, methods=["POST"]),
        Route("/patients/{mrn}/results/{result_id:int}/correct", correct_result, methods=["POST"]),
        Route("/patients/{mrn}/results/{result_id:int}/void", void_result, methods=["POST"]),
    ]
