"""Lab times to UTC instants, refusing the ones no calendar here can hold.

Python's datetimes span the years 1 to 9999. A lab time at either end with an offset, such as
`0001-01-01T00:00:00+14:00` or HL7 `99991231235959-1200`, lies outside that span once moved to
UTC and would raise OverflowError deep inside an import (issue 11 item 5). It is a bad value
like any other: a ValueError that names it, so the result goes to the quarantine.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_utc(moment: datetime, written: str) -> datetime:
    """The UTC instant of a zone-aware time; ValueError when it falls outside years 1-9999."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"collection time {written!r} is out of range (before year 1 or after 9999 in UTC)"
        ) from None
