"""The sign-in gate, session expiry, CSRF tokens and the security headers of every response.

The gate is default-deny: every path needs a signed-in user except the login page and the
stylesheet, so a page added later is protected without remembering to. The session cookie is
signed (itsdangerous, via Starlette's SessionMiddleware), not encrypted: it holds the user id,
the account's session generation, the CSRF token and the time of the last request, never
patient data. A signed cookie stays valid for as long as its signature does, so the gate also
checks the generation against the database on every request: signing out, a new password or a
disabled account ends the session even for a copy of the cookie kept from before.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.services.people.users import signed_in_user
from monitor.web.deps import WebDeps, WebUser

PUBLIC_PATHS = frozenset({"/login"})
PUBLIC_PREFIX = "/static/"
# Paths with access control of their own (a bearer token; a private calendar URL).
OWN_ACCESS_PREFIXES = ("/fhir/", "/calendar/")
CSRF_FIELD = "csrf"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Page URLs carry MRNs: never send them to another site, never keep pages in caches.
    "referrer-policy": "no-referrer",
}


class SignInGate:
    """ASGI middleware (inside SessionMiddleware): signed-in users through, others to /login."""

    def __init__(self, app: ASGIApp, deps: WebDeps) -> None:
        self.app = app
        self.deps = deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send, scope["path"])
        if scope["path"] in PUBLIC_PATHS or scope["path"].startswith(
            (PUBLIC_PREFIX, *OWN_ACCESS_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        session: dict[str, Any] = scope["session"]
        user = await run_in_threadpool(self._signed_in, session)
        if user is None:
            if _is_page_request(scope):
                session["next"] = scope["path"]
            await RedirectResponse("/login", status_code=303)(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    def _signed_in(self, session: dict[str, Any]) -> WebUser | None:
        """The session's user if it is still valid; touching it keeps an active session alive."""
        user_id, generation = session.get("uid"), session.get("gen")
        if not isinstance(user_id, int):
            return None
        if not isinstance(generation, int):  # a cookie from before session generations
            session.clear()
            return None
        now = self.deps.now().timestamp()
        seen = session.get("seen")
        if (
            not isinstance(seen, int | float)
            or now - seen > self.deps.config.web.session_minutes * 60
        ):
            session.clear()
            add_flash(session, "info", "Your session has ended. Please sign in again.")
            return None
        with self.deps.session() as db:
            row = signed_in_user(db, user_id, generation)
            user = WebUser(row.id, row.name, row.role) if row is not None else None
        if user is None:
            session.clear()
            return None
        session["seen"] = now
        return user


def _is_page_request(scope: Scope) -> bool:
    """A browser asking for a page (not a favicon or a form post): worth returning to."""
    accept = dict(scope["headers"]).get(b"accept", b"")
    return scope["method"] == "GET" and b"text/html" in accept and is_local_path(scope["path"])


def _with_headers(send: Send, path: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers[name] = value
            if not path.startswith(PUBLIC_PREFIX):
                headers.setdefault("cache-control", "no-store")  # unless the page says
        await send(message)

    return wrapped


def is_local_path(path: str) -> bool:
    """A path on this site (for redirects after sign-in): never `//host` or a full URL."""
    return path.startswith("/") and not path.startswith("//") and "\\" not in path


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, made on first use (every form carries it)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, or 403 when its CSRF token is missing or not this session's."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(given, str) or not isinstance(expected, str):
        raise HTTPException(403, "The form has expired. Reload the page and try again.")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "The form has expired. Reload the page and try again.")
    return form


def add_flash(session: dict[str, Any], kind: str, text: str) -> None:
    """A one-time message for the next page (never patient data: the cookie is readable)."""
    session["flash"] = [*session.get("flash", []), [kind, text]]


def pop_flashes(session: dict[str, Any]) -> list[tuple[str, str]]:
    return [(kind, text) for kind, text in session.pop("flash", [])]
