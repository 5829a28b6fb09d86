"""What the patient page's editing forms need beyond the record (the forms' handlers are in
`views.edits`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from monitor.domain.phases import Kind
from monitor.domain.vocabulary import Channel
from monitor.services.people import details
from monitor.services.people.patients import SEXES
from monitor.services.people.record import PatientRecord
from monitor.web.deps import WebDeps


def edit_context(session: Session, app: WebDeps, record: PatientRecord) -> dict[str, Any]:
    """The patient's editable details, the clinic's sites and the choices of each field."""
    return {
        "details": details.current_details(session, record.id),
        "sites": details.allowed_sites(session, app.config),
        "sexes": SEXES,
        "channels": [c.value for c in Channel],
        "course_plans": [p for p in app.config.catalogue.plans if p.kind is Kind.COURSES],
    }
