"""Reading single FHIR R4 elements (helpers for `adapters.fhir`)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from monitor.adapters.instants import to_utc
from monitor.domain.codes import Code
from monitor.domain.vocabulary import ResultStatus
from monitor.services.fhir.terminology import UCUM

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

STATUSES = {
    "final": ResultStatus.FINAL,
    "amended": ResultStatus.CORRECTED,
    "corrected": ResultStatus.CORRECTED,
    "preliminary": ResultStatus.PRELIMINARY,
    "entered-in-error": ResultStatus.ENTERED_IN_ERROR,
}
NOT_RESULTS = ("registered", "cancelled", "unknown")


def text(value: Any) -> str:
    """A JSON scalar as text (numbers as written: Decimal keeps 0.09 as "0.09")."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def codes_of(concept: Any) -> tuple[Code, ...]:
    """Every coding of a CodeableConcept (LOINC and local codes alike)."""
    return tuple(
        Code(text(c.get("system")), text(c.get("code")), text(c.get("display")))
        for c in as_list(as_dict(concept).get("coding"))
        if isinstance(c, dict) and text(c.get("code"))
    )


def value_and_unit(observation: dict[str, Any]) -> tuple[str, str | None]:
    """valueQuantity (UCUM code preferred, else the unit text; a comparator stays in front of
    the number so it is refused, not silently dropped), valueCodeableConcept, valueString."""
    if "valueQuantity" in observation:
        quantity = as_dict(observation["valueQuantity"])
        unit = text(quantity.get("code")) if text(quantity.get("system")) == UCUM else ""
        number = text(quantity.get("comparator")) + text(quantity.get("value"))
        return number, unit or text(quantity.get("unit")) or None
    if "valueCodeableConcept" in observation:
        concept = as_dict(observation["valueCodeableConcept"])
        codings = [as_dict(c) for c in as_list(concept.get("coding"))]
        words = [text(concept.get("text"))] + [text(c.get("display")) for c in codings]
        words += [text(c.get("code")) for c in codings]
        return next((w for w in words if w), ""), None
    for key in ("valueString", "valueInteger"):
        if key in observation:
            return text(observation[key]), None
    return "", None


def reference_range(observation: dict[str, Any]) -> tuple[float | None, float | None]:
    ranges = [as_dict(r) for r in as_list(observation.get("referenceRange"))]
    if not ranges:
        return None, None
    return _bound(ranges[0].get("low")), _bound(ranges[0].get("high"))


def _bound(quantity: Any) -> float | None:
    value = as_dict(quantity).get("value")
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return None


def effective(resource: dict[str, Any]) -> str:
    """effectiveDateTime, effectiveInstant or the start of effectivePeriod, as written."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        if text(resource.get(key)):
            return text(resource[key])
    return text(as_dict(resource.get("effectivePeriod")).get("start"))


def collection_time(value: str, zone: str) -> tuple[date | None, datetime | None]:
    """(date, None) for a bare date; (None, UTC instant) for a dateTime (local when no offset)."""
    try:
        if _DATE.fullmatch(value):
            return date.fromisoformat(value), None
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"unreadable collection time {value!r}") from None
    if "T" not in value:
        raise ValueError(f"collection time {value!r} has no day")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return None, to_utc(moment, value)


def lab_flag(observation: dict[str, Any]) -> str | None:
    for concept in as_list(observation.get("interpretation")):
        for coding in as_list(as_dict(concept).get("coding")):
            if code := text(as_dict(coding).get("code")):
                return code[:16]
    return None


def category_codes(observation: dict[str, Any]) -> set[str]:
    return {c.code for concept in as_list(observation.get("category")) for c in codes_of(concept)}


def identifiers(patient: dict[str, Any], identifier_type: str | None) -> tuple[str, ...]:
    """Patient.identifier values, narrowed to one type (e.g. MR) when configured."""
    found = []
    for identifier in as_list(patient.get("identifier")):
        identifier = as_dict(identifier)
        kinds = {c.code for c in codes_of(identifier.get("type"))}
        if identifier_type and identifier_type not in kinds:
            continue
        if value := text(identifier.get("value")):
            found.append(value)
    return tuple(dict.fromkeys(found))


def family_names(patient: dict[str, Any]) -> tuple[str, ...]:
    """`family` of every Patient.name (official, maiden, old ...); a list (as DSTU2 had) is
    joined with spaces."""
    found = []
    for name in as_list(patient.get("name")):
        family = as_dict(name).get("family")
        words = [text(part) for part in family] if isinstance(family, list) else [text(family)]
        found.append(" ".join(word for word in words if word))
    return tuple(found)
