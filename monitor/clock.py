"""The only module that reads the wall clock.

Everything else takes `today` or `now` as a parameter, so tests can pass any date, and freezegun
(which patches `datetime`) moves the whole program at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def now_utc() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def today_in(timezone: str) -> date:
    """Today's calendar date in the clinic's time zone (never the UTC date)."""
    return datetime.now(ZoneInfo(timezone)).date()
