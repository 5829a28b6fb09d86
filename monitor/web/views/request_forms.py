"""The patient page's lab request form, as a PDF download (issue 14 item 5)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.errors import InvalidInput, NotFound
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.services.schedule.request_form_print import form_filename, request_forms_pdf
from monitor.services.schedule.request_forms import request_form
from monitor.web.deps import deps


def request_form_pdf(request: Request) -> Response:
    """The form as of today (the default fortnight ahead). Nothing due: the error page says so
    (404: there is no form to give)."""
    app = deps(request)
    config = app.config
    with app.session() as session:
        require_current_schedules(session, config.catalogue)
        try:
            form = request_form(
                session, request.path_params["mrn"], app.today(), config.catalogue,
                config.code_map.loinc,
            )  # fmt: skip
        except NotFound:
            raise
        except InvalidInput as error:
            raise HTTPException(404, str(error)) from None
    pdf = request_forms_pdf([form], config.clinic)
    filename = form_filename(form.mrn)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def routes() -> list[BaseRoute]:
    return [Route("/patients/{mrn}/request-form.pdf", request_form_pdf, methods=["GET"])]
