"""The Protocols page: every configured protocol and its panels in plain words, read-only, for
any signed-in member of staff (a clinician checks the schedules against the label)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.services.protocols import protocol_sheets
from monitor.web.deps import deps
from monitor.web.render import page


def protocols_page(request: Request) -> Response:
    """From the configuration read at start-up: no database, so it shows even when stale."""
    sheets = protocol_sheets(deps(request).config.protocols)
    return page(request, "protocols.html", {"sheets": sheets})


def routes() -> list[BaseRoute]:
    return [Route("/protocols", protocols_page, methods=["GET"])]
