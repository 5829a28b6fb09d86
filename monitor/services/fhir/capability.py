"""The CapabilityStatement `GET /fhir/metadata` answers: what the API serves and how to ask."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor import __version__
from monitor.services.fhir.query import PARAMETERS
from monitor.services.fhir.resources import instant

_TYPES = {
    "identifier": "token",
    "patient": "reference",
    "status": "token",
    "_id": "token",
    "_lastUpdated": "date",
}
_DOCS = {
    "identifier": "the MRN, as <MRN> or urn:monitor:mrn|<MRN>",
    "patient": "Patient/<id>",
    "status": "one or more statuses, comma-separated",
    "_lastUpdated": "gt, ge, lt or le and a date or an instant; repeatable",
    "_id": "one or more ids, comma-separated",
}


def capability_statement(now: datetime, base: str) -> dict[str, Any]:
    resources = [
        {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": _TYPES[name], "documentation": _DOCS[name]}
                for name in sorted(params)
                if name in _TYPES
            ],
        }
        for kind, params in PARAMETERS.items()
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now),
        "publisher": "MS safety monitor",
        "kind": "instance",
        "software": {"name": "monitor", "version": __version__},
        "implementation": {"description": "Read-only monitoring plans and results", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Send `Authorization: Bearer <token>` (monitor token add "
                "NAME --scope fhir:read). Paging: _count (at most 500) and the links.",
                "security": {"description": "Bearer API tokens with the fhir:read scope."},
                "resource": resources,
            }
        ],
    }
