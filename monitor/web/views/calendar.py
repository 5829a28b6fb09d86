"""`GET /calendar/<token>.ics`: a patient's live calendar, no sign-in (the URL is the secret).

An unknown or revoked token is 404 with nothing else said. The answer is `private` (a shared
cache must not keep it) and never names the patient: SPEC §5's words only.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.notify.calendar import REFRESH, build_live_calendar
from monitor.notify.messages import Clinic
from monitor.services.access.calendars import calendar_entries
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.web.deps import deps

SUFFIX = ".ics"
MAX_TOKEN = 100


def live_calendar(request: Request) -> Response:
    name: str = request.path_params["name"]
    token = name.removesuffix(SUFFIX)
    if not name.endswith(SUFFIX) or not token or len(token) > MAX_TOKEN:
        return _not_found()
    app = deps(request)
    with app.session() as session:
        found = calendar_entries(session, token, app.today(), app.config.catalogue)
        if found is None:
            return _not_found()
        require_current_schedules(session, app.config.catalogue)
    clinic = Clinic(app.config.clinic.name, app.config.clinic.phone)
    body = build_live_calendar(clinic, found.owner, found.tests, stamp=app.now())
    seconds = int(REFRESH.total_seconds())
    headers = {"cache-control": f"private, max-age={seconds}"}
    return Response(body, media_type="text/calendar", headers=headers)


def _not_found() -> Response:
    return PlainTextResponse("Not found", status_code=404, headers={"cache-control": "no-store"})


def routes() -> list[BaseRoute]:
    return [Route("/calendar/{name}", live_calendar, methods=["GET"])]
