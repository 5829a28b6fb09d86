"""What a nurse does from the pages: acknowledge a flag, waive a slot, record a result, change
a patient's status or email, start or stop a continuous treatment. Each is one POST
(CSRF-checked) calling the same service as the CLI, in one transaction, audited under
`web:<user>`, then a redirect back (303).

When the service refuses the input, the patient page is shown again with the reason (400)
rather than carrying the message in the session cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.errors import InvalidInput, NotFound
from monitor.services.people.patients import change_status, set_email_preference
from monitor.services.people.treatments import start_treatment, stop_treatment
from monitor.services.results.flags import acknowledge_flag
from monitor.services.results.intake import audit_entry, record_results
from monitor.services.results.recording import ResultIn
from monitor.services.schedule.waivers import waive_slot
from monitor.web.deps import WebDeps, WebUser, current_user, deps
from monitor.web.forms import form_date, form_number, refusal, text
from monitor.web.render import page, protocol_names
from monitor.web.security import add_flash, checked_form, is_local_path
from monitor.web.views.patient import patient_context

Change = Callable[[Session, WebDeps, WebUser], str]


async def apply(request: Request, change: Change, back: str, mrn: str | None) -> Response:
    """Run `change` in one transaction; on success flash its message and go `back`."""
    app, user = deps(request), current_user(request)

    def run() -> str | InvalidInput:
        try:
            with app.session() as session:
                return change(session, app, user)
        except NotFound as error:
            raise HTTPException(404, str(error)) from None
        except InvalidInput as error:
            return error

    outcome = await run_in_threadpool(run)
    if isinstance(outcome, InvalidInput):
        if mrn is None:
            add_flash(request.session, "error", "Not done: the form was incomplete or out of date.")
            return RedirectResponse(back, status_code=303)
        return await run_in_threadpool(_refused, request, mrn, refusal(outcome))
    add_flash(request.session, "ok", outcome)
    return RedirectResponse(back, status_code=303)


def _refused(request: Request, mrn: str, reason: str) -> Response:
    app = deps(request)
    with app.session() as session:
        context = patient_context(session, app, mrn)
        context["error"] = reason
        return page(request, "patient.html", context, status_code=400)


async def acknowledge(request: Request) -> Response:
    form = await checked_form(request)
    flag_id = int(request.path_params["flag_id"])
    back = text(form, "back") or "/flags"
    if not is_local_path(back):
        back = "/flags"

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        note = text(form, "note")
        closed = acknowledge_flag(session, flag_id=flag_id, by=user.actor, note=note, now=app.now())
        if len(closed) == 1:
            return f"Flag {flag_id} acknowledged."
        return f"Flags {', '.join(str(flag.id) for flag in closed)} (one result) acknowledged."

    mrn = back.removeprefix("/patients/") if back.startswith("/patients/") else None
    return await apply(request, change, back, mrn)


async def waive(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        protocol, panel, due_on = _slot_choice(form)
        reason = text(form, "reason", required=True, label="The reason")
        assert reason is not None
        waiver = waive_slot(
            session,
            mrn=mrn,
            panel=panel,
            due_on=due_on,
            by=user.actor,
            reason=reason,
            now=app.now(),
            protocol=protocol,
        )
        name = protocol_names(app.config.catalogue).get(waiver.protocol, waiver.protocol)
        return f"The {panel} test due {due_on:%d %b %Y} under {name} is waived."

    return await apply(request, change, f"/patients/{mrn}", mrn)


def _slot_choice(form: FormData) -> tuple[str, str, date]:
    """The option chosen, "protocol|panel|due" (a slot is one series' panel and due date)."""
    value = text(form, "slot", required=True, label="The test to waive") or ""
    parts = value.split("|")
    try:
        protocol, panel, due = parts
        if not protocol or not panel:
            raise ValueError(value)
        return protocol, panel, date.fromisoformat(due)
    except ValueError:
        raise InvalidInput("choose the test to waive from the list") from None


async def add_result(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        given = _result_in(form, mrn)
        now = app.now()
        recorded = record_results(session, [given], today=app.today(), now=now, config=app.config)
        audit_entry(session, recorded.results[0], actor=user.actor, now=now)
        flags = len(recorded.flags)
        return "Result recorded." + (f" It raised {flags} flag(s)." if flags else "")

    return await apply(request, change, f"/patients/{mrn}", mrn)


def _result_in(form: FormData, mrn: str) -> ResultIn:
    analyte = text(form, "analyte", required=True, label="The test") or ""
    value = text(form, "value", required=True, label="The value") or ""
    collected = form_date(form, "collected_on", "The collection date")
    assert collected is not None
    return ResultIn(
        mrn=mrn,
        analyte=analyte,
        value=value,
        unit=text(form, "unit"),
        collected_on=collected,
        ref_low=form_number(form, "ref_low", "The range's low end"),
        ref_high=form_number(form, "ref_high", "The range's high end"),
        source="web",
    )


async def start(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        protocol = text(form, "protocol", required=True, label="The protocol") or ""
        on = form_date(form, "on", "The start date")
        assert on is not None
        start_treatment(
            session, mrn=mrn, protocol=protocol, started_on=on, actor=user.actor, now=app.now()
        )
        name = protocol_names(app.config.catalogue).get(protocol, protocol)
        return f"{name} started on {on:%d %b %Y}; the schedule now follows it."

    return await apply(request, change, f"/patients/{mrn}", mrn)


async def stop(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        protocol = text(form, "protocol", required=True, label="The treatment to stop") or ""
        on = form_date(form, "on", "The stop date")
        assert on is not None
        stop_treatment(
            session,
            mrn=mrn,
            protocol=protocol,
            stopped_on=on,
            reason=text(form, "reason"),
            actor=user.actor,
            now=app.now(),
        )
        name = protocol_names(app.config.catalogue).get(protocol, protocol)
        return f"{name} stopped on {on:%d %b %Y}."

    return await apply(request, change, f"/patients/{mrn}", mrn)


async def set_status(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        status = text(form, "status", required=True, label="The status") or ""
        on = form_date(form, "on", "The date the status took effect")
        assert on is not None
        change_status(
            session,
            mrn=mrn,
            status=status,
            on=on,
            reason=text(form, "reason"),
            actor=user.actor,
            now=app.now(),
        )
        return f"Status set to {status} from {on:%d %b %Y}."

    return await apply(request, change, f"/patients/{mrn}", mrn)


async def set_email(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]

    def change(session: Session, app: WebDeps, user: WebUser) -> str:
        set_email_preference(
            session,
            mrn=mrn,
            address=text(form, "email"),
            opt_out=form.get("opted_out") == "yes",
            actor=user.actor,
            now=app.now(),
        )
        return "Email preference saved."

    return await apply(request, change, f"/patients/{mrn}", mrn)


def routes() -> list[BaseRoute]:
    return [
        Route("/flags/{flag_id:int}/acknowledge", acknowledge, methods=["POST"]),
        Route("/patients/{mrn}/waive", waive, methods=["POST"]),
        Route("/patients/{mrn}/results", add_result, methods=["POST"]),
        Route("/patients/{mrn}/status", set_status, methods=["POST"]),
        Route("/patients/{mrn}/treatments/start", start, methods=["POST"]),
        Route("/patients/{mrn}/treatments/stop", stop, methods=["POST"]),
        Route("/patients/{mrn}/email", set_email, methods=["POST"]),
    ]
