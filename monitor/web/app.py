"""Building the worklist app: routes, the session cookie, the sign-in gate, error pages.

Middleware order (outermost first): the session cookie, then the sign-in gate, which needs the
session. Handlers that touch the database are plain functions (Starlette runs them in its
thread pool) or await `run_in_threadpool`, so the synchronous SQLAlchemy engine is fine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor import clock
from monitor.config import Config
from monitor.errors import NotFound
from monitor.resources import resource_path
from monitor.services.operations.database import error_summary
from monitor.services.people.users import prepare_sign_in
from monitor.services.schedule.fingerprints import StaleSchedules, schedules_are_current
from monitor.web.cache import WorklistCache
from monitor.web.deps import WebDeps
from monitor.web.fhir import create_fhir_app
from monitor.web.render import templates
from monitor.web.secret import session_secret
from monitor.web.security import SignInGate
from monitor.web.views import (
    actions,
    auth,
    contacts,
    edits,
    exports,
    lists,
    patient,
    patients,
    protocols,
    reports,
    request_forms,
    today,
)
from monitor.web.views import calendar as calendar_views
from monitor.web.views import onboarding as onboarding_views

SESSION_COOKIE = "monitor_session"
log = logging.getLogger("monitor.web")


def create_app(
    config: Config,
    engine: Engine,
    *,
    now: Callable[[], datetime] = clock.now_utc,
    today_fn: Callable[[], date] | None = None,
    secret: str | None = None,
) -> Starlette:
    """The worklist for one configuration and database; `now`/`today_fn` for tests."""
    zone = config.clinic.timezone
    prepare_sign_in()
    deps = WebDeps(config, engine, now, today_fn or (lambda: clock.today_in(zone)))
    routes = [
        *auth.routes(),
        *patients.routes(),
        *today.routes(),
        *onboarding_views.routes(),
        *patient.routes(),
        *actions.routes(),
        *lists.routes(),
        *protocols.routes(),
        *edits.routes(),
        *request_forms.routes(),
        *reports.routes(),
        *contacts.routes(),
        *exports.routes(),
        Mount("/static", StaticFiles(directory=resource_path("templates") / "web" / "static")),
        *calendar_views.routes(),
        Mount("/fhir", app=create_fhir_app(deps)),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret or session_secret(engine),
            session_cookie=SESSION_COOKIE,
            max_age=config.web.session_minutes * 60,
            same_site="strict",
            https_only=config.web.secure_cookies,
        ),
        Middleware(SignInGate, deps=deps),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_error,
            NotFound: _not_found,
            StaleSchedules: _stale_schedules,
            Exception: _crash,
        },
    )
    app.state.deps = deps
    app.state.worklist = WorklistCache(sessions=deps.session)
    return app


def warm_worklist(app: Starlette) -> bool:
    """Compute the Today lists (and compile the page's templates) before the server takes its
    first request, so the first nurse of the day (or after a restart) does not wait for the
    whole clinic's lists; whether it did
    (not when the stored schedules are stale: the page then says so, 503, and nothing is kept).
    """
    deps: WebDeps = app.state.deps
    catalogue = deps.config.catalogue
    with deps.session() as session:
        if not schedules_are_current(session, catalogue):
            return False
        cache: WorklistCache = app.state.worklist
        cache.get(session, deps.today(), catalogue)
    for name in ("base.html", "_macros.html", "today.html"):  # compiled once per process: now
        templates().get_template(name)
    return True


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _error_page(request, error.status_code, error.detail)


async def _not_found(request: Request, error: Exception) -> Response:
    return _error_page(request, 404, "There is no such record.")


STALE_SCHEDULES = (
    "The schedules stored in the database were computed from a different protocol than this "
    "worklist's configuration, so this list would be wrong. Run `monitor db rebuild` (a "
    "restarted `monitor run` also does it), and restart `monitor serve` if config.toml changed "
    "since it started. Flags, quarantine, outbox and audit still work."
)


async def _stale_schedules(request: Request, error: Exception) -> Response:
    return _error_page(request, 503, STALE_SCHEDULES)


async def _crash(request: Request, error: Exception) -> Response:
    # The exception type only: its message may carry a patient's data.
    log.error("unhandled %s on %s %s", error_summary(error), request.method, _route_of(request))
    return _error_page(request, 500, "Something went wrong; nothing was changed.")


def _error_page(request: Request, status: int, detail: str) -> Response:
    """Rendered without the session: a crash is handled outside the session middleware."""
    context = {"status": status, "detail": detail, "clinic": request.app.state.deps.config.clinic}
    return templates().TemplateResponse(request, "error.html", context, status_code=status)


def _route_of(request: Request) -> str:
    """The path with the MRN replaced, for logs."""
    path = request.url.path
    if path.startswith("/patients/") or path.startswith("/audit/patients/"):
        head = "/audit/patients/" if path.startswith("/audit/") else "/patients/"
        rest = path[len(head) :].partition("/")[2]
        return head + "{mrn}" + (f"/{rest}" if rest else "")
    return path


class QuietErrors:
    """The outermost layer under uvicorn: an exception that escaped has already been answered
    with the 500 page and logged by type (`_crash`); uvicorn would log it again with its message
    and traceback, which may hold a patient's data, so it stops here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            return  # reported by _crash, see the docstring
