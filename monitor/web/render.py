"""Rendering pages: one Jinja2 environment over templates/web/, autoescaped everywhere.

Every page gets the same frame context (who is signed in, the CSRF token, one-time messages,
the clinic's name and date, each protocol's display name by id), so templates never reach into
the request themselves.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from monitor.domain.catalogue import Catalogue
from monitor.resources import resource_path
from monitor.web.deps import current_user, deps
from monitor.web.security import csrf_token, pop_flashes


@functools.cache
def templates() -> Jinja2Templates:
    """The worklist's templates (compiled once per process)."""
    env = Environment(
        loader=FileSystemLoader(resource_path("templates") / "web"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["day"] = _day
    env.filters["moment"] = _moment
    env.filters["thousands"] = lambda n: f"{n:,}"
    return Jinja2Templates(env=env)


def _day(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value is not None else "\u2013"


def _moment(value: datetime | None, timezone: str = "UTC") -> str:
    """An instant in the clinic's time zone (stored in UTC)."""
    if value is None:
        return "\u2013"
    return value.astimezone(ZoneInfo(timezone)).strftime("%d %b %Y %H:%M")


def page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page inside the signed-in frame."""
    app = deps(request)
    frame = {
        "user": current_user(request),
        "csrf": csrf_token(request.session),
        "flashes": pop_flashes(request.session),
        "clinic": app.config.clinic,
        "today": app.today(),
        "path": request.url.path,
        "protocol_names": protocol_names(app.config.catalogue),
    }
    return templates().TemplateResponse(
        request, name, {**frame, **context}, status_code=status_code
    )


@functools.cache
def protocol_names(catalogue: Catalogue) -> dict[str, str]:
    """Each configured protocol's display name (SPEC §10.1: staff only), by id."""
    return {plan.id: plan.name for plan in catalogue.plans}


def bare_page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page outside the frame (sign-in, errors before sign-in)."""
    frame = {
        "user": request.scope.get("state", {}).get("user"),
        "csrf": csrf_token(request.session),
        "flashes": pop_flashes(request.session),
        "clinic": deps(request).config.clinic,
        "path": request.url.path,
    }
    return templates().TemplateResponse(
        request, name, {**frame, **context}, status_code=status_code
    )
