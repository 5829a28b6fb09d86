"""Recording a contact attempt from the Today page: one POST (CSRF-checked) calling the same
service as `monitor contact add`, audited under `web:<user>`, then back to Today (303).

A refusal (a past booked date, a booking without a date, a note too long) goes back to Today
with the reason as a flash: the reason names the field and the rule, never the patient.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.errors import InvalidInput, NotFound
from monitor.services.people.contacts import record_contact
from monitor.web.deps import current_user, deps
from monitor.web.forms import form_date, refusal, text
from monitor.web.security import add_flash, checked_form, is_local_path


async def add_contact(request: Request) -> Response:
    form = await checked_form(request)
    mrn = request.path_params["mrn"]
    back = text(form, "back") or "/"
    if not is_local_path(back):
        back = "/"
    app, user = deps(request), current_user(request)

    def run() -> str:
        try:
            booked_on = form_date(form, "booked_on", "The booked date", required=False)
            with app.session() as session:
                contact = record_contact(
                    session,
                    mrn=mrn,
                    outcome=text(form, "outcome") or "",
                    by=user.name,
                    booked_on=booked_on,
                    note=text(form, "note"),
                    actor=user.actor,
                    today=app.today(),
                    now=app.now(),
                )
        except NotFound as error:
            raise HTTPException(404, str(error)) from None
        except InvalidInput as error:
            add_flash(request.session, "error", f"Contact not recorded: {refusal(error)}.")
            return back
        booked = f" for {contact.booked_on:%d %b %Y}" if contact.booked_on else ""
        add_flash(request.session, "ok", f"Contact recorded: {contact.outcome.value}{booked}.")
        return back

    target = await run_in_threadpool(run)
    return RedirectResponse(target, status_code=303)


def routes() -> list[BaseRoute]:
    return [Route("/patients/{mrn}/contacts", add_contact, methods=["POST"])]
