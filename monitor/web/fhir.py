"""The read-only FHIR R4 API under /fhir: bearer tokens, JSON as `application/fhir+json`.

A sub-application of its own (mounted by `web.app`), outside the sign-in cookie: the sign-in
gate lets /fhir/ through and every route here but `metadata` asks for a bearer token with the
`fhir:read` scope. Errors are OperationOutcomes that name the problem and nothing else (no
patient data, no token): missing token 401 with `WWW-Authenticate: Bearer`; unknown or revoked
401 (the same words for both); wrong scope 403; bad search 400; no such resource 404.

Each answered request is one audit entry (actor `api:<token name>`, action `fhir.read`, the
resource type, the parameters' names, how many resources and whose); refused ones are logged
by the token's name only when it is one of ours (docs/decisions.md, "FHIR API").
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.errors import InvalidInput
from monitor.services.access.tokens import Verdict, check_token
from monitor.services.audit import record_change
from monitor.services.fhir.capability import capability_statement
from monitor.services.fhir.query import KINDS, Query, parse_query
from monitor.services.fhir.search import FhirContext, Page, read, search
from monitor.services.operations.database import error_summary
from monitor.services.schedule.fingerprints import StaleSchedules, require_current_schedules
from monitor.web.deps import WebDeps

FHIR_JSON = "application/fhir+json"
SCOPE = "fhir:read"
REALM = 'Bearer realm="monitor-fhir"'
SCHEDULED = frozenset({"ServiceRequest", "CarePlan"})
log = logging.getLogger("monitor.web.fhir")


class FhirError(Exception):
    """An answer that is an OperationOutcome: status, issue code, plain words, headers."""

    def __init__(
        self, status: int, code: str, text: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


def create_fhir_app(deps: WebDeps) -> Starlette:
    app = Starlette(
        routes=[
            Route("/metadata", metadata, methods=["GET"]),
            Route("/{kind}", search_type, methods=["GET"]),
            Route("/{kind}/{rid}", read_instance, methods=["GET"]),
        ]
    )
    app.state.deps = deps
    return app


def fhir_response(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers or None)


def outcome(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return fhir_response(body, status, **(headers or {}))


def answers(endpoint: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Every failure as an OperationOutcome, inside this sub-application (never the worklist's
    HTML error page); an unexpected one is logged by its type only, like `web.app._crash`."""

    @functools.wraps(endpoint)
    def wrapper(request: Request) -> Response:
        try:
            return endpoint(request)
        except FhirError as error:
            return outcome(error.status, error.code, error.text, error.headers)
        except InvalidInput as error:
            return outcome(400, "invalid", str(error))
        except StaleSchedules:
            text = "The stored schedules are out of date; the clinic must rebuild them."
            return outcome(503, "transient", text)
        except Exception as error:
            log.error("unhandled %s on FHIR %s", error_summary(error), _kind_of(request))
            return outcome(500, "exception", "Something went wrong; nothing was changed.")

    return wrapper


def _deps(request: Request) -> WebDeps:
    found: WebDeps = request.app.state.deps
    return found


def _kind_of(request: Request) -> str:
    kind = request.path_params.get("kind", "metadata")
    return kind if kind in KINDS else "(other)"


@answers
def metadata(request: Request) -> Response:
    """No token needed: a client reads what the server offers before it authenticates."""
    deps = _deps(request)
    return fhir_response(capability_statement(deps.now(), _base(request)))


@answers
def search_type(request: Request) -> Response:
    kind = _known_kind(request)
    deps = _deps(request)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    _check_format(request)
    with deps.session() as session:
        name = _authorise(request, session, deps)
        query = parse_query(kind, params, deps.config.clinic.timezone)
        if kind in SCHEDULED:
            require_current_schedules(session, deps.config.catalogue)
        page = search(session, query, FhirContext.of(deps.config, deps.today()))
        _audit(session, deps, name, kind, [k for k, _ in params], page)
    return fhir_response(_bundle(request, query, page))


@answers
def read_instance(request: Request) -> Response:
    kind = _known_kind(request)
    deps = _deps(request)
    _check_format(request)
    if any(k != "_format" for k in request.query_params):
        raise FhirError(400, "not-supported", "a read takes no parameters")
    with deps.session() as session:
        name = _authorise(request, session, deps)
        if kind in SCHEDULED:
            require_current_schedules(session, deps.config.catalogue)
        found = read(
            session, kind, request.path_params["rid"], FhirContext.of(deps.config, deps.today())
        )
        if found is None:
            raise FhirError(404, "not-found", f"There is no {kind} with that id.")
        patient = found["id"] if kind == "Patient" else found["subject"]["reference"]
        ids = frozenset({int(str(patient).removeprefix("Patient/"))})
        _audit(session, deps, name, kind, ["_id"], Page([found], 1, ids))
    return fhir_response(found)


def _known_kind(request: Request) -> str:
    kind: str = request.path_params["kind"]
    if kind not in KINDS:
        raise FhirError(404, "not-supported", f"This server serves {', '.join(KINDS)} only.")
    return kind


def _check_format(request: Request) -> None:
    wanted = request.query_params.get("_format")
    if wanted is not None and wanted not in ("json", FHIR_JSON, "application/json"):
        raise FhirError(406, "not-supported", "This server answers in JSON only.")


def _authorise(request: Request, session: Any, deps: WebDeps) -> str:
    """The token's name, or FhirError: 401 missing/unknown/revoked, 403 wrong scope."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise FhirError(401, "login", "A bearer token is required.", {"WWW-Authenticate": REALM})
    check = check_token(session, token.strip(), SCOPE, deps.now())
    if check.verdict is Verdict.ALLOWED and check.name is not None:
        return check.name
    log.warning("FHIR request refused: %s (token %s)", check.verdict, check.name or "unknown")
    if check.verdict is Verdict.WRONG_SCOPE:
        header = f'{REALM}, error="insufficient_scope", scope="{SCOPE}"'
        raise FhirError(
            403, "forbidden", f"The token lacks the {SCOPE} scope.", {"WWW-Authenticate": header}
        )
    header = f'{REALM}, error="invalid_token"'
    raise FhirError(401, "login", "The token is not valid.", {"WWW-Authenticate": header})


def _audit(
    session: Any, deps: WebDeps, name: str, kind: str, params: list[str], page: Page
) -> None:
    patients = sorted(page.patient_ids)
    record_change(
        session,
        at=deps.now(),
        actor=f"api:{name}",
        action="fhir.read",
        entity="fhir",
        entity_id=None,
        patient_id=patients[0] if len(patients) == 1 else None,
        after={
            "resource": kind,
            "params": sorted(set(params)),
            "returned": len(page.resources),
            "patients": patients,
        },
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _bundle(request: Request, query: Query, page: Page) -> dict[str, Any]:
    base = _base(request)
    links = [{"relation": "self", "url": _page_url(request, query, query.offset)}]
    if page.more:
        links.append(
            {"relation": "next", "url": _page_url(request, query, query.offset + query.count)}
        )
    if query.offset > 0:
        previous = max(query.offset - query.count, 0)
        links.append({"relation": "previous", "url": _page_url(request, query, previous)})
    counted = {} if page.total is None else {"total": page.total}
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        **counted,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in page.resources
        ],
    }


def _page_url(request: Request, query: Query, offset: int) -> str:
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("_offset", "_count")
    ]
    params += [("_count", str(query.count)), ("_offset", str(offset))]
    return f"{_base(request)}/{query.kind}?{urlencode(params)}"
