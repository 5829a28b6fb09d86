"""A FHIR search's parameters, parsed and checked: `patient`, `status`, `identifier`,
`_lastUpdated`, `_count` and the page's `_offset`.

Strict: a parameter the resource does not support is refused (400), never ignored, so a client
never takes an unfiltered list for a filtered one. A `_lastUpdated` date without a time is that
day in the clinic's time zone; each value is an interval [start, end) by its precision, compared
as FHIR's prefixes say (eq, ne are not offered; gt, ge, lt, le, sa, eb).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.errors import InvalidInput
from monitor.services.fhir.terminology import MRN_SYSTEM

DEFAULT_COUNT = 50
MAX_COUNT = 500
MAX_OFFSET = 10_000_000

STATUSES: dict[str, frozenset[str]] = {
    "Patient": frozenset(),
    "CarePlan": frozenset({"active", "completed", "draft", "on-hold", "revoked"}),
    "ServiceRequest": frozenset({"active", "completed", "revoked", "draft", "on-hold"}),
    "Observation": frozenset({"final", "corrected", "entered-in-error", "preliminary"}),
    "Flag": frozenset({"active", "inactive", "entered-in-error"}),
}
KINDS = tuple(STATUSES)
COMMON = frozenset({"_lastUpdated", "_count", "_offset"})
PARAMETERS: dict[str, frozenset[str]] = {
    "Patient": COMMON | {"identifier", "_id"},
    **{kind: COMMON | {"patient", "status", "_id"} for kind in KINDS if kind != "Patient"},
}
_PREFIX = re.compile(r"(gt|ge|lt|le|sa|eb|eq)?(.+)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
_NUMBER = re.compile(r"\d{1,9}")


@dataclass(frozen=True)
class Window:
    """One `_lastUpdated` condition: an interval [start, end) and how to compare with it."""

    prefix: str
    start: datetime
    end: datetime

    def admits(self, at: datetime) -> bool:
        match self.prefix:
            case "gt" | "sa":
                return at >= self.end
            case "ge":
                return at >= self.start
            case "lt" | "eb":
                return at < self.start
            case "le":
                return at < self.end
            case _:
                return self.start <= at < self.end


@dataclass(frozen=True)
class Query:
    kind: str
    patient: int | None = None
    identifier: str | None = None
    ids: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    updated: tuple[Window, ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0

    def admits(self, status: str | None, last_updated: datetime) -> bool:
        if self.statuses is not None and status not in self.statuses:
            return False
        return all(window.admits(last_updated) for window in self.updated)


def parse_query(kind: str, params: Iterable[tuple[str, str]], zone: str) -> Query:
    """The search, or InvalidInput naming the parameter at fault (never echoing a long value)."""
    allowed = PARAMETERS[kind]
    values: dict[str, list[str]] = {}
    for name, value in params:
        if name not in allowed:
            shown = ", ".join(sorted(allowed))
            raise InvalidInput(
                f"{kind} does not support the search parameter {name[:40]!r} (supported: {shown})"
            )
        values.setdefault(name, []).append(value)
    for name in ("patient", "identifier", "_count", "_offset", "status", "_id"):
        if len(values.get(name, [])) > 1:
            raise InvalidInput(f"{name} is given more than once")
    one = {name: given[0] for name, given in values.items()}
    return Query(
        kind=kind,
        patient=_patient(one["patient"]) if "patient" in one else None,
        identifier=_identifier(one["identifier"]) if "identifier" in one else None,
        ids=frozenset(_list(one["_id"], "_id")) if "_id" in one else None,
        statuses=_statuses(kind, one["status"]) if "status" in one else None,
        updated=tuple(_window(v, zone) for v in values.get("_lastUpdated", [])),
        count=_number(one.get("_count"), "_count", DEFAULT_COUNT, 1, MAX_COUNT),
        offset=_number(one.get("_offset"), "_offset", 0, 0, MAX_OFFSET),
    )


def _list(value: str, name: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise InvalidInput(f"{name} has an empty value")
    return items


def _patient(value: str) -> int:
    """`Patient/12` or `12`: a patient's id (this server's, never an MRN)."""
    bare = value.removeprefix("Patient/")
    if not _NUMBER.fullmatch(bare):
        raise InvalidInput("patient must be a Patient id, as Patient/<id> or <id>")
    return int(bare)


def _identifier(value: str) -> str:
    """`<MRN>` or `urn:monitor:mrn|<MRN>`: the MRN searched for."""
    system, bar, code = value.rpartition("|")
    if bar and system not in ("", MRN_SYSTEM):
        raise InvalidInput(f"identifier system must be {MRN_SYSTEM}")
    if not code.strip():
        raise InvalidInput("identifier needs a value")
    return code.strip()


def _statuses(kind: str, value: str) -> frozenset[str]:
    given = frozenset(_list(value, "status"))
    unknown = sorted(given - STATUSES[kind])
    if unknown:
        known = ", ".join(sorted(STATUSES[kind]))
        raise InvalidInput(f"status {unknown[0][:40]!r} is not a {kind} status (known: {known})")
    return given


def _window(value: str, zone: str) -> Window:
    found = _PREFIX.fullmatch(value)
    prefix, moment = (found.group(1) or "eq", found.group(2)) if found else ("eq", value)
    try:
        if _DATE.fullmatch(moment):
            day = date.fromisoformat(moment)
            start = datetime.combine(day, time(), ZoneInfo(zone))
            return Window(
                prefix, start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
            )
        if shaped := _DATETIME.fullmatch(moment):
            at = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
            step = timedelta(seconds=1) if shaped.group(1) else timedelta(minutes=1)
            return Window(prefix, at, at + step)
    except ValueError:
        pass
    raise InvalidInput(
        "_lastUpdated must be a date (YYYY-MM-DD) or an instant with its offset "
        "(YYYY-MM-DDThh:mm:ssZ), optionally after gt, ge, lt, le"
    )


def _number(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not _NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}")
    return int(value)
