"""Lengths of time in a protocol definition: `<n>d`, `<n>w` or `<n>m` (SPEC §10.1, §10.4).

A length is a whole number of days, weeks or months. `every` and `at` offsets need n >= 1;
`from` and `until` may be 0 (the anchor itself). A bare number (`3`), another unit (`3y`, `3M`)
or a negative n is refused with the value named. The longest length is 20 years in its unit
(7305 days, 1044 weeks, 240 months): a *sanity* bound, like `monitoring_months`' 240, that keeps
date arithmetic far from Python's year 9999 and a typo (an extra zero) from being taken as meant.

Adding a length to a date: days as days, weeks as 7 days, months with `schedule.add_months`
(dateutil's rule: a missing day clamps to the month's last, 31 January + 1 month = 29 February
2024). Adding months is not associative (31 Jan + 1m + 1m = 29 Mar, 31 Jan + 2m = 31 Mar), which
is why `phases.due_dates` counts months from the anchor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from monitor.domain.schedule import add_months
from monitor.errors import InvalidInput


class Unit(StrEnum):
    DAYS = "d"
    WEEKS = "w"
    MONTHS = "m"


MAX_LENGTH = {Unit.DAYS: 7305, Unit.WEEKS: 1044, Unit.MONTHS: 240}
_LENGTH = re.compile(r"(-?)([0-9]{1,12})([a-zA-Z]*)")
_SHOWN = 40  # characters of a bad value quoted back


class LengthError(InvalidInput):
    """A length that cannot be read; the message quotes the value."""


@dataclass(frozen=True)
class Length:
    """`count` days, weeks or months; `str()` gives it back as written (`"6m"`)."""

    count: int
    unit: Unit

    def __str__(self) -> str:
        return f"{self.count}{self.unit.value}"

    def after(self, day: date) -> date:
        """`day` plus this length (months clamp to the month's end, weeks are 7 days)."""
        if self.unit is Unit.MONTHS:
            return add_months(day, self.count)
        days = self.count * (7 if self.unit is Unit.WEEKS else 1)
        return day + timedelta(days=days)

    def times(self, k: int) -> Length:
        """This length k times over (`2w`.times(3) is `6w`)."""
        return Length(self.count * k, self.unit)


def parse_length(value: object, *, minimum: int) -> Length:
    """`value` (`"<n>d"`, `"<n>w"` or `"<n>m"`) as a Length with `minimum <= n`, or LengthError.

    `minimum` is 1 for `every` and `at` offsets and 0 for `from` and `until` (SPEC §10.4).
    """
    if not isinstance(value, str):
        hint = " (a bare number is not a length)" if isinstance(value, int | float) else ""
        raise LengthError(f"{_quoted(value)} is not a length like '3m'{hint}; {_FORMS}")
    match = _LENGTH.fullmatch(value)
    if match is None or match.group(3) not in Unit._value2member_map_:
        raise LengthError(f"{_quoted(value)} is not a length; {_FORMS}")
    sign, digits, unit_text = match.groups()
    count = -int(digits) if sign else int(digits)
    if count < minimum:
        raise LengthError(f"{_quoted(value)}: the number must be at least {minimum}")
    unit = Unit(unit_text)
    if count > MAX_LENGTH[unit]:
        longest = f"{MAX_LENGTH[unit]}{unit.value}"
        raise LengthError(f"{_quoted(value)} is longer than {longest} (20 years)")
    return Length(count, unit)


_FORMS = "write <n>d, <n>w or <n>m (days, weeks or months), e.g. '14d', '2w', '6m'"


def _quoted(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
