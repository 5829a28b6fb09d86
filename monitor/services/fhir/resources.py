"""FHIR R4 resources (as JSON-ready dicts) from stored rows: pure mapping, no session.

Ids are stable: a Patient, CarePlan (one per treatment), Observation (one per stored result)
and Flag are their rows' ids; a ServiceRequest (one per slot) is named by the patient and the
slot's (protocol, panel, due date), never by the slot's row id, because a rebuild replaces the
rows (`slot_id`). The mapping of a slot's status to FHIR's is `request_status`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from monitor.domain.catalogue import Catalogue, UnknownProtocol
from monitor.domain.codes import CodeMap
from monitor.domain.status import SlotStatus
from monitor.domain.vocabulary import PatientStatus, ResultStatus
from monitor.services.fhir import terminology as t
from monitor.store.models import Flag, Patient, Result, Slot, Treatment

Resource = dict[str, Any]

# SlotStatus -> ServiceRequest.status. A missed slot's window and the next one's opening have
# passed, so no further work is done for it: revoked, like a waived or cancelled one; the
# monitor's own status rides along in meta.tag (docs/decisions.md, "FHIR API").
REQUEST_STATUS: dict[SlotStatus, str] = {
    SlotStatus.WAIVED: "revoked",
    SlotStatus.CANCELLED: "revoked",
    SlotStatus.MISSED: "revoked",
    SlotStatus.DONE: "completed",
    SlotStatus.LATE: "completed",
    SlotStatus.UPCOMING: "active",
    SlotStatus.DUE: "active",
    SlotStatus.OVERDUE: "active",
}
# ResultStatus -> Observation.status: the counting results and the withdrawn ones are served.
OBSERVATION_STATUS: dict[ResultStatus, str] = {
    ResultStatus.FINAL: "final",
    ResultStatus.CORRECTED: "corrected",
    ResultStatus.ENTERED_IN_ERROR: "entered-in-error",
}
_GENDERS = {"F": "female", "M": "male"}


@dataclass(frozen=True)
class Terms:
    """What the mapping needs from the configuration."""

    catalogue: Catalogue
    code_map: CodeMap
    first_loinc: Mapping[str, str]
    canonical_units: Mapping[str, str]  # analyte -> its canonical unit (the catalogue's)


def slot_id(patient_id: int, protocol: str, panel: str, due_on: date) -> str:
    """`<patient id>-<16 hex>`: stable across rebuilds, within FHIR's id alphabet."""
    key = "\x1f".join([protocol, panel, due_on.isoformat()])
    return f"{patient_id}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]}"


def instant(value: datetime) -> str:
    """An aware instant in FHIR's format (UTC, seconds)."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def reference(kind: str, rid: int | str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def _meta(last_updated: datetime, **extra: Any) -> dict[str, Any]:
    return {"lastUpdated": instant(last_updated), **extra}


def patient_resource(row: Patient, last_updated: datetime) -> Resource:
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(row.id),
        "meta": _meta(last_updated),
        "identifier": [{"system": t.MRN_SYSTEM, "value": row.mrn}],
        "active": row.status is PatientStatus.ACTIVE,
        "name": [{"text": row.name}],
    }
    if row.sex in _GENDERS:
        resource["gender"] = _GENDERS[row.sex]
    if row.born_on is not None:
        resource["birthDate"] = row.born_on.isoformat()
    telecom = [{"system": "email", "value": row.email}] if row.email else []
    telecom += [{"system": "phone", "value": row.phone}] if row.phone else []
    if telecom:
        resource["telecom"] = telecom
    lines = [line.strip() for line in (row.address or "").splitlines() if line.strip()]
    if lines:
        resource["address"] = [{"text": "\n".join(lines), "line": lines}]
    if row.status is PatientStatus.DECEASED:
        resource["deceasedBoolean"] = True
    return resource


def request_status(status: SlotStatus) -> str:
    return REQUEST_STATUS[status]


def service_request(
    row: Slot, status: SlotStatus, care_plan_id: int | None, last_updated: datetime, terms: Terms
) -> Resource:
    tag = {"system": t.SLOT_STATUS_SYSTEM, "code": status.value}
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": slot_id(row.patient_id, row.protocol, row.panel, row.due_on),
        "meta": _meta(last_updated, tag=[tag]),
        "identifier": [
            {"system": t.SLOT_SYSTEM, "value": f"{row.protocol}/{row.panel}/{row.due_on}"}
        ],
        "status": request_status(status),
        "intent": "plan",
        "subject": reference("Patient", row.patient_id),
        "occurrencePeriod": {
            "start": row.window_start.isoformat(),
            "end": row.window_end.isoformat(),
        },
        **_panel_codes(row.protocol, row.panel, terms),
    }
    if care_plan_id is not None:
        resource["basedOn"] = [reference("CarePlan", care_plan_id)]
    return resource


def _panel_codes(protocol: str, panel: str, terms: Terms) -> dict[str, Any]:
    """`code`: the panel (its one test's LOINC when it has one test); `orderDetail`: each test
    of a larger panel by its LOINC code (the configured panels have no LOINC panel code)."""
    own = {"system": t.PANEL_SYSTEM, "code": f"{protocol}.{panel}", "display": panel}
    try:
        analytes = terms.catalogue.panel(protocol, panel).analytes
    except (UnknownProtocol, KeyError):
        return {"code": {"coding": [own], "text": panel}}
    tests = [_analyte_concept(a, terms.first_loinc.get(a, "")) for a in analytes]
    if len(tests) == 1:
        only = tests[0]
        return {"code": {"coding": [*only["coding"], own], "text": panel}}
    return {"code": {"coding": [own], "text": panel}, "orderDetail": tests}


def _analyte_concept(analyte: str, loinc: str) -> dict[str, Any]:
    coding = [{"system": t.LOINC, "code": loinc}] if loinc else []
    coding.append({"system": t.ANALYTE_SYSTEM, "code": analyte})
    return {"coding": coding, "text": analyte}


def care_plan(
    row: Treatment,
    patient_id: int,
    request_ids: Sequence[str],
    active: bool,
    last_updated: datetime,
    terms: Terms,
) -> Resource:
    try:
        title = terms.catalogue.plan(row.protocol).name
    except UnknownProtocol:
        title = row.protocol
    period = {"start": row.started_on.isoformat()}
    if row.stopped_on is not None:
        period["end"] = row.stopped_on.isoformat()
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": str(row.id),
        "meta": _meta(last_updated),
        "identifier": [{"system": t.PANEL_SYSTEM, "value": row.protocol}],
        "status": "active" if active else "completed",
        "intent": "plan",
        "title": f"{title} monitoring",
        "subject": reference("Patient", patient_id),
        "period": period,
    }
    if request_ids:
        resource["activity"] = [{"reference": reference("ServiceRequest", i)} for i in request_ids]
    return resource


def observation(row: Result, last_updated: datetime, terms: Terms) -> Resource:
    loinc = t.loinc_of(row.analyte, row.code, terms.code_map, terms.first_loinc)
    resource: Resource = {
        "resourceType": "Observation",
        "id": str(row.id),
        "meta": _meta(last_updated),
        "status": OBSERVATION_STATUS[row.status],
        "category": [{"coding": [{"system": t.OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": _analyte_concept(row.analyte, loinc),
        "subject": reference("Patient", row.patient_id),
        "effectiveDateTime": (
            instant(row.collected_at) if row.collected_at else row.collected_on.isoformat()
        ),
        "issued": instant(row.received_at),
        **_value(row, terms),
    }
    if row.accession:
        resource["identifier"] = [
            {"system": f"urn:monitor:accession:{row.source}", "value": row.accession}
        ]
    return resource


def _value(row: Result, terms: Terms) -> dict[str, Any]:
    """The value in the canonical unit (UCUM coded when it has a code), an ordinal as text,
    else the value as received."""
    if row.ordinal is not None:
        return {"valueCodeableConcept": {"text": row.ordinal}}
    if row.canonical_value is not None:
        quantity: dict[str, Any] = {"value": row.canonical_value}
        unit = terms.canonical_units.get(row.analyte, row.unit)
        code = t.UCUM_CODES.get(unit)
        coded = {"unit": unit, "system": t.UCUM, "code": code} if code else {"unit": unit}
        return {"valueQuantity": {**quantity, **coded}}
    return {"valueString": f"{row.value} {row.unit}".strip()}


def flag_resource(row: Flag, last_updated: datetime) -> Resource:
    return {
        "resourceType": "Flag",
        "id": str(row.id),
        "meta": _meta(last_updated),
        "extension": [
            {"url": t.FLAG_DETAIL, "valueReference": reference("Observation", row.result_id)}
        ],
        "status": "active",
        "category": [
            {
                "coding": [{"system": t.FLAG_SEVERITY_SYSTEM, "code": row.severity.value}],
                "text": row.severity.value,
            }
        ],
        "code": {"coding": [{"system": t.FLAG_RULE_SYSTEM, "code": row.rule}], "text": row.message},
        "subject": reference("Patient", row.patient_id),
        "period": {"start": instant(row.created_at)},
    }
