"""The Reports page: adherence for a period (by month, site, protocol and panel) with its two
charts, and the downloads: the report as CSV (by month or by patient) and the REMS list.

Any signed-in member of staff; filters are GET parameters (`from`, `to`, `site`, `protocol`).
Bad ones (a date that is not one, a period ending before it starts, an unknown site or
protocol) are said on the page above the form, with status 400 and no table; a download with
them is refused with 400 and the reason as text.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.adapters.report_csv import adherence_csv, rems_csv
from monitor.domain.dates import checked_date
from monitor.errors import InvalidInput
from monitor.services.people.record import sites
from monitor.services.reports.adherence import ReportBy, adherence_report
from monitor.services.reports.period import ReportFilter, default_period
from monitor.services.reports.rems import rems_list
from monitor.services.schedule.fingerprints import require_current_schedules
from monitor.web.deps import deps
from monitor.web.forms import refusal
from monitor.web.render import page
from monitor.web.report_charts import lateness_chart, on_time_chart, series_class


def reports_page(request: Request) -> Response:
    app = deps(request)
    params = request.query_params
    catalogue = app.config.catalogue
    context: dict[str, Any] = {
        "report": None,
        "error": None,
        "protocols": catalogue.ids,
        "series_class": series_class,
        "chosen": {name: params.get(name, "") for name in ("site", "protocol")},
    }
    with app.session() as session:
        require_current_schedules(session, catalogue)
        context["sites"] = sites(session)
        try:
            wanted = _filter(params, app.today())
            context["wanted"] = wanted
            report = adherence_report(session, catalogue, wanted, app.today())
        except InvalidInput as error:
            context["error"] = refusal(error)
            context.setdefault("wanted", None)
            context["fields"] = {name: params.get(name, "") for name in ("from", "to")}
            return page(request, "reports.html", context, status_code=400)
    series = report.on_time_series()
    context.update(
        report=report,
        fields={"from": wanted.first_on.isoformat(), "to": wanted.last_on.isoformat()},
        series=series,
        on_time_svg=on_time_chart(series, report.months),
        lateness_svg=lateness_chart(report.lateness),
        query=_query(wanted),
    )
    return page(request, "reports.html", context)


def adherence_download(request: Request) -> Response:
    """The report as CSV, by month (default) or by patient (`by=patient`)."""
    app = deps(request)
    by = ReportBy.PATIENT if request.query_params.get("by") == "patient" else ReportBy.MONTH
    with app.session() as session:
        require_current_schedules(session, app.config.catalogue)
        try:
            wanted = _filter(request.query_params, app.today())
            report = adherence_report(session, app.config.catalogue, wanted, app.today(), by)
        except InvalidInput as error:
            return PlainTextResponse(refusal(error), status_code=400)
    name = f"adherence-{by.value}-{wanted.first_on.isoformat()}-{wanted.last_on.isoformat()}.csv"
    return _csv(adherence_csv(report), name)


def rems_download(request: Request) -> Response:
    """The REMS list as CSV (the protocol filter, else alemtuzumab)."""
    app = deps(request)
    with app.session() as session:
        require_current_schedules(session, app.config.catalogue)
        try:
            wanted = _filter(request.query_params, app.today())
            listing = rems_list(session, app.config.catalogue, wanted, app.today())
        except InvalidInput as error:
            return PlainTextResponse(refusal(error), status_code=400)
    name = f"rems-{listing.protocol}-{wanted.first_on.isoformat()}-{wanted.last_on.isoformat()}.csv"
    return _csv(rems_csv(listing), name)


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def _filter(params: QueryParams, today: date) -> ReportFilter:
    """The page's filter; the period defaults to the 12 months ending with this month."""
    first_on, last_on = default_period(today)
    return ReportFilter(
        _day(params, "from", "From") or first_on,
        _day(params, "to", "To") or last_on,
        (params.get("site") or "").strip() or None,
        (params.get("protocol") or "").strip() or None,
    )


def _day(params: QueryParams, name: str, label: str) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label} {value[:40]!r} is not a date as YYYY-MM-DD") from None
    return checked_date(parsed, label)


def _query(wanted: ReportFilter) -> str:
    """The filter as a query string, for the download links."""
    values = {"from": wanted.first_on.isoformat(), "to": wanted.last_on.isoformat()}
    if wanted.site:
        values["site"] = wanted.site
    if wanted.protocol:
        values["protocol"] = wanted.protocol
    return urlencode(values)


def routes() -> list[BaseRoute]:
    return [
        Route("/reports", reports_page, methods=["GET"]),
        Route("/reports/adherence.csv", adherence_download, methods=["GET"]),
        Route("/reports/rems.csv", rems_download, methods=["GET"]),
    ]
