"""Lab request forms as one printable PDF: a page per patient (`templates/print/request-form.html`,
printed by `notify.pdf`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from monitor.config import ClinicConfig
from monitor.notify.messages import long_date
from monitor.notify.pdf import print_pdf, render_print_html
from monitor.services.schedule.request_forms import RequestForm

TEMPLATE = "request-form.html"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def form_filename(mrn: str) -> str:
    """`request-form-<MRN>.pdf`, any character a file name or a header cannot hold as `_`."""
    return _UNSAFE.sub("_", f"request-form-{mrn}.pdf")


def request_forms_pdf(forms: Sequence[RequestForm], clinic: ClinicConfig) -> bytes:
    """Every form in order, each on its own page (ValueError when there is none)."""
    return print_pdf([render_print_html(TEMPLATE, _context(form, clinic)) for form in forms])


def _context(form: RequestForm, clinic: ClinicConfig) -> dict[str, Any]:
    return {
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone,
        "printed_on": long_date(form.on),
        "name": form.name,
        "born_on": form.born_on.isoformat() if form.born_on else "not recorded",
        "mrn": form.mrn,
        "due_by": long_date(form.due_by),
        "overdue": form.is_overdue,
        "tests": [
            {"panel": t.panel, "due_on": long_date(t.due_on), "analytes": t.analytes}
            for t in form.tests
        ],
    }
