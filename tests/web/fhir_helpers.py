"""Helpers for the FHIR API tests: tokens made through the service, and validation of every
resource with `fhir.resources` (8.x ships R5 at the top and R4B; R4B is the R4 line's models:
the resources served here are the same in R4 and R4B)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import Engine

from monitor.services.access.tokens import add_token
from monitor.store.db import unit_of_work

MADE_AT = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def make_token(engine: Engine, name: str = "epr", scopes: tuple[str, ...] = ("fhir:read",)) -> str:
    with unit_of_work(engine) as session:
        return add_token(session, name=name, scopes=list(scopes), actor="test", now=MADE_AT)


def validated(body: dict[str, Any]) -> dict[str, Any]:
    """The resource (and a Bundle's every entry) parsed by the model library; fails loudly."""
    model = get_fhir_model_class(body["resourceType"])
    model.model_validate(body)
    for entry in body.get("entry", []):
        inner = entry["resource"]
        get_fhir_model_class(inner["resourceType"]).model_validate(inner)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
