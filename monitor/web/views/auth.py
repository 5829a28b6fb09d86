"""Sign in and sign out.

A successful sign-in starts a fresh session (new CSRF token, nothing carried over from before
the login), so a session fixed by someone else before sign-in is worthless after it. Signing out
ends every session of the account, here and on any other computer (services/users.py).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.services.people.users import Lockout, authenticate, sign_out_everywhere
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

    def check() -> tuple[WebUser, int] | None:
        with app.session() as session:
            row = authenticate(
                session, name=name, password=password, now=app.now(), lockout=lockout
            )
            if row is None:
                return None
            return WebUser(row.id, row.name, row.role), row.session_generation

    checked = await run_in_threadpool(check)
    if checked is None:
        error = FAILED.format(attempts=web.lockout_attempts, minutes=web.lockout_minutes)
        return bare_page(request, "login.html", {"error": error}, status_code=401)
    user, generation = checked
    target = request.session.get("next")
    request.session.clear()
    request.session["uid"] = user.id
    request.session["gen"] = generation
    request.session["seen"] = app.now().timestamp()
    csrf_token(request.session)
    go = target if isinstance(target, str) and is_local_path(target) else "/"
    return RedirectResponse(go, status_code=303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    user = current_user(request)
    app = deps(request)

    def end_sessions() -> None:
        with app.session() as session:
            sign_out_everywhere(session, user_id=user.id, now=app.now())

    await run_in_threadpool(end_sessions)
    request.session.clear()
    add_flash(request.session, "info", "You have signed out.")
    return RedirectResponse("/login", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
