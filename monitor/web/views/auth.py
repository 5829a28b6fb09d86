"""Sign in and sign out.

A successful sign-in starts a fresh session (new CSRF token, nothing carried over from before
the login), so a session fixed by someone else before sign-in is worthless after it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.services.users import Lockout, authenticate, record_logout
from monitor.web.deps import WebUser, current_user, deps
from monitor.web.render import bare_page
from monitor.web.security import add_flash, checked_form, csrf_token, is_local_path

FAILED = (
    "Sign-in failed: wrong name or password. After {attempts} failed tries in a row an "
    "account is locked for {minutes} minutes."
)


async def login_form(request: Request) -> Response:
    return bare_page(request, "login.html", {"error": None})


async def login(request: Request) -> Response:
    form = await checked_form(request)
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    app = deps(request)
    web = app.config.web
    lockout = Lockout(web.lockout_attempts, web.lockout_minutes)

    def check() -> WebUser | None:
        with app.session() as session:
            row = authenticate(
                session, name=name, password=password, now=app.now(), lockout=lockout
            )
            return WebUser(row.id, row.name, row.role) if row is not None else None

    user = await run_in_threadpool(check)
    if user is None:
        error = FAILED.format(attempts=web.lockout_attempts, minutes=web.lockout_minutes)
        return bare_page(request, "login.html", {"error": error}, status_code=401)
    target = request.session.get("next")
    request.session.clear()
    request.session["uid"] = user.id
    request.session["seen"] = app.now().timestamp()
    csrf_token(request.session)
    go = target if isinstance(target, str) and is_local_path(target) else "/"
    return RedirectResponse(go, status_code=303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    user = current_user(request)
    app = deps(request)

    def audit() -> None:
        with app.session() as session:
            record_logout(session, user_id=user.id, now=app.now())

    await run_in_threadpool(audit)
    request.session.clear()
    add_flash(request.session, "info", "You have signed out.")
    return RedirectResponse("/login", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
