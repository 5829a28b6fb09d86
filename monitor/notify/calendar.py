"""The iCalendar (.ics) file attached to a patient reminder: one all-day event per due date.

Like the email it rides on, it says only what a patient needs: the tests in plain words, the
due-by date, the clinic's name and phone. No drug, no diagnosis, no identifier. The UID is
derived from the clinic, the date and the panels, so a later reminder for the same tests
updates the event in the patient's calendar instead of adding a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from monitor.notify.messages import Clinic, TestDue, describe_panels, group_by_date, join_words

PRODID = "-//monitor//Clinic reminders//EN"
UID_DOMAIN = "reminders.invalid"


def build_calendar(clinic: Clinic, tests: Sequence[TestDue], *, stamp: datetime) -> str:
    """The serialized VCALENDAR; `stamp` (aware) becomes every event's DTSTAMP, in UTC."""
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError("stamp must be an aware datetime")
    if not tests:
        raise ValueError("a calendar needs at least one test")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    for due_on, panels in group_by_date(tests).items():
        words = join_words(describe_panels(panels))
        event = Event()
        event.add("uid", _uid(clinic, due_on.isoformat(), panels))
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", due_on)
        event.add("dtend", due_on + timedelta(days=1))
        event.add("summary", f"Tests due - {clinic.name}")
        event.add(
            "description",
            f"{words[:1].upper()}{words[1:]}, due by this date.\nQuestions? Call {clinic.phone}.",
        )
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    serialized: bytes = calendar.to_ical()
    return serialized.decode("utf-8")


def _uid(clinic: Clinic, day: str, panels: Sequence[str]) -> str:
    key = "\x1f".join([clinic.name, day, *sorted(set(panels))])
    return f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{UID_DOMAIN}"
