"""The calendar the program works in: 1900-01-01 to 2199-12-31.

A sanity bound, not a clinical claim. It covers any date of birth and any course a clinic can
plan, and keeps every date computed from one (a monitoring end up to 240 months after a course,
windows up to a year around a due date) far inside Python's years 1 to 9999, so no date
arithmetic can overflow. Dates typed in (CLI options, web forms) outside it are refused.
"""

from __future__ import annotations

from datetime import date

from monitor.errors import InvalidInput

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def checked_date(value: date, label: str) -> date:
    """`value`, or InvalidInput naming `label` when it lies outside the supported calendar."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InvalidInput(
            f"{label} {value} is outside the supported dates {EARLIEST_DATE} to {LATEST_DATE}"
        )
    return value
