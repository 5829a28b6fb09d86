"""Reading single HL7 v2 fields the way real labs fill them (helpers for `adapters.hl7`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from monitor.adapters.instants import to_utc
from monitor.domain.codes import Code

_TS = re.compile(
    r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"
    r"(?:(?P<H>\d{2})(?:(?P<M>\d{2})(?:(?P<S>\d{2})(?:\.\d{1,4})?)?)?)?"
    r"(?P<tz>[+-]\d{4})?"
)
_BIRTH = re.compile(
    r"(?P<y>\d{4})(?:(?P<m>\d{2})(?P<d>\d{2})?)?(?:\d{2,6}(?:\.\d{1,4})?)?([+-]\d{4})?"
)
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_BETWEEN = re.compile(rf"{_NUMBER}\s*(?:-|\u2013|_|to)\s*{_NUMBER}", re.IGNORECASE)
_BELOW = re.compile(rf"(?:<|<=|≤)\s*{_NUMBER}")
_ABOVE = re.compile(rf"(?:>|>=|≥)\s*{_NUMBER}")
_CODED = ("CE", "CWE", "CNE")


def field(segment: Any, number: int, *, repeat: int = 1, component: int = 1) -> str:
    """One component of one field, unescaped and stripped; "" when it is not there."""
    if segment is None:
        return ""
    try:
        value = segment.extract_field(1, number, repeat, component, 1)
    except (IndexError, KeyError, TypeError, ValueError):
        return ""
    return str(value).strip()


def repetitions(segment: Any, number: int) -> int:
    """How many repetitions a field has (0 when it is absent)."""
    if number >= len(segment):
        return 0
    return max(1, len(segment(number))) if str(segment(number)) else 0


def codes_of(obx: Any) -> tuple[Code, ...]:
    """OBX-3's primary and alternate code (the alternate triplet often holds the LOINC)."""
    codes = []
    for first in (1, 4):
        code = field(obx, 3, component=first)
        if code:
            name = field(obx, 3, component=first + 1)
            codes.append(Code(field(obx, 3, component=first + 2), code, name))
    return tuple(codes)


def value_of(obx: Any) -> str:
    """OBX-5 as text: SN put together ("^182" is 182), CE/CWE by their text or code."""
    kind = field(obx, 2).upper()
    if kind == "SN":
        parts = [field(obx, 5, component=n) for n in (1, 2, 3, 4)]
        return "".join(parts)
    if kind in _CODED:
        return field(obx, 5, component=2) or field(obx, 5)
    return field(obx, 5)


def unit_of(obx: Any) -> str | None:
    """OBX-6's unit. "10^9/L" sent unescaped splits at "^": such a split is put back."""
    first, second = field(obx, 6), field(obx, 6, component=2)
    if first.isdigit() and second[:1].isdigit() and not field(obx, 6, component=3):
        return f"{first}^{second}"
    return first or None


def patient_ids(
    pid: Any, identifier_type: str | None, assigning_authority: str | None
) -> tuple[str, ...]:
    """The ID component of every PID-3 repetition, narrowed by type (3.5) and authority (3.4)."""
    found = []
    for repeat in range(1, repetitions(pid, 3) + 1):
        mrn = field(pid, 3, repeat=repeat)
        kind = field(pid, 3, repeat=repeat, component=5)
        authority = field(pid, 3, repeat=repeat, component=4)
        if identifier_type and kind != identifier_type:
            continue
        if assigning_authority and assigning_authority not in (authority, authority.split("&")[0]):
            continue
        if mrn:
            found.append(mrn)
    return tuple(dict.fromkeys(found))


def birth_of(pid: Any) -> str:
    """PID-7 as ISO `YYYY[-MM[-DD]]` (its time of day dropped), its text as sent when it reads as
    no date (e.g. a placeholder "DOB"), "" when absent. `domain.patient_match` compares it."""
    text = field(pid, 7)
    match = _BIRTH.fullmatch(text)
    if match is None:
        return text
    return "-".join(part for part in (match["y"], match["m"], match["d"]) if part)


def family_names(pid: Any) -> tuple[str, ...]:
    """The family name (PID-5.1) of every PID-5 repetition: legal, maiden and other names."""
    return tuple(field(pid, 5, repeat=r) for r in range(1, repetitions(pid, 5) + 1))


@dataclass(frozen=True)
class LabTime:
    """An HL7 TS: a date, or a local time with or without its UTC offset."""

    day: date
    time: datetime | None

    written: str = ""

    def resolve(self, zone: str) -> tuple[date | None, datetime | None]:
        """(date, None) for a bare date; (None, UTC instant) for a time, read in the clinic's
        zone when the lab sent no offset; ValueError when it is out of range in UTC."""
        if self.time is None:
            return self.day, None
        moment = self.time if self.time.tzinfo else self.time.replace(tzinfo=ZoneInfo(zone))
        return None, to_utc(moment, self.written)


def lab_time(segment: Any, number: int) -> LabTime | None:
    """The time in field `number`; None when empty; ValueError when it cannot be read."""
    text = field(segment, number)
    if not text:
        return None
    match = _TS.fullmatch(text)
    if match is None:
        raise ValueError(f"unreadable date/time {text!r} in {segment[0]}-{number}")
    try:
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
        if match["H"] is None:
            return LabTime(day, None, text)
        offset = _offset(match["tz"])
        hour, minute, second = (int(match[k] or 0) for k in ("H", "M", "S"))
        moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=offset)
    except ValueError:
        raise ValueError(f"impossible date/time {text!r} in {segment[0]}-{number}") from None
    return LabTime(day, moment, text)


def _offset(text: str | None) -> timezone | None:
    if not text:
        return None
    sign = -1 if text[0] == "-" else 1
    delta = timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))
    if delta >= timedelta(hours=24):
        raise ValueError(f"offset {text}")
    return timezone(sign * delta)


def reference_range(text: str) -> tuple[float | None, float | None]:
    """ "70-105", "13 to 18", "70_105", "<95", "> 6.8"; anything else means no range."""
    text = text.strip()
    if match := _BETWEEN.fullmatch(text):
        return _number(match[1]), _number(match[2])
    if match := _BELOW.fullmatch(text):
        return None, _number(match[1])
    if match := _ABOVE.fullmatch(text):
        return _number(match[1]), None
    return None, None


def _number(text: str) -> float:
    return float(text.replace(",", "."))
