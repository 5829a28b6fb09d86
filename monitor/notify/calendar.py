"""The iCalendar (.ics) file attached to a patient reminder: all-day events a patient can act on.

Like the email it rides on, it says only what a patient needs: the tests in plain words, the
due-by date, the clinic's name and phone. No drug, no diagnosis, no identifier.

- A due reminder (`build_calendar`) has one event per due date, on that date (SPEC §9).
- An overdue reminder (`build_overdue_calendar`) has nothing to do on a date already past, so its
  event is "Book your tests" on the day after the email: a nudge for a patient who has not booked
  yet (docs/decisions.md, "Overdue reminders' calendar entry").

Both are pure, so the files are kept by their inputs (`CALENDARS_KEPT`) and built once each.

The UID is derived from the clinic, the due date and the panels, so every reminder about the same
tests carries the same UID. The overdue event has a SEQUENCE that grows with each later reminder
(days from the due date to the booking day), so a calendar that honours updates moves the entry
from the due date to the booking day instead of adding a second one.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from monitor.notify.messages import (
    Clinic,
    TestDue,
    group_by_date,
    it_or_them,
    join_words,
    long_date,
)

if TYPE_CHECKING:
    from icalendar import Calendar, Event

PRODID = "-//monitor//Clinic reminders//EN"
# The files built last, by their inputs: a cycle's reminders about the same tests on the same
# days carry the same file (a clinic's day has a few dozen distinct ones for hundreds of
# emails), and building one with icalendar costs about as much as rendering the email.
CALENDARS_KEPT = 256
UID_DOMAIN = "reminders.invalid"
BOOK_AFTER_EMAIL = timedelta(days=1)


def build_calendar(clinic: Clinic, tests: Sequence[TestDue], *, stamp: datetime) -> str:
    """The serialized VCALENDAR; `stamp` (aware) becomes every event's DTSTAMP, in UTC."""
    return _due_calendar(clinic, tuple(tests), stamp)


@functools.lru_cache(maxsize=CALENDARS_KEPT)
def _due_calendar(clinic: Clinic, tests: tuple[TestDue, ...], stamp: datetime) -> str:
    calendar = _calendar(stamp, tests)
    for due_on, phrases in group_by_date(tests).items():
        words = join_words(phrases)
        event = _all_day_event(clinic, due_on, _panels_on(tests, due_on), on=due_on, stamp=stamp)
        event.add("summary", f"Tests due - {clinic.name}")
        event.add("description", f"{_capital(words)}, due by this date.{_call(clinic)}")
        calendar.add_component(event)
    return _serialize(calendar)


def build_overdue_calendar(
    clinic: Clinic, tests: Sequence[TestDue], *, emailed_on: date, stamp: datetime
) -> str:
    """The VCALENDAR for an overdue reminder queued on `emailed_on`: "book" on the day after."""
    return _overdue_calendar(clinic, tuple(tests), emailed_on, stamp)


@functools.lru_cache(maxsize=CALENDARS_KEPT)
def _overdue_calendar(
    clinic: Clinic, tests: tuple[TestDue, ...], emailed_on: date, stamp: datetime
) -> str:
    calendar = _calendar(stamp, tests)
    book_on = emailed_on + BOOK_AFTER_EMAIL
    for due_on, phrases in group_by_date(tests).items():
        whats = phrases
        pronoun = it_or_them(whats)
        event = _all_day_event(clinic, due_on, _panels_on(tests, due_on), on=book_on, stamp=stamp)
        event.add("sequence", max((book_on - due_on).days, 1))
        event.add("summary", f"Book your tests - {clinic.name}")
        event.add(
            "description",
            f"{_capital(join_words(whats))}, due by {long_date(due_on)}: if you have not had "
            f"{pronoun} done yet, please book {pronoun} now.{_call(clinic)}",
        )
        calendar.add_component(event)
    return _serialize(calendar)


def _calendar(stamp: datetime, tests: Sequence[TestDue]) -> Calendar:
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError("stamp must be an aware datetime")
    if not tests:
        raise ValueError("a calendar needs at least one test")
    return _new_calendar()


def _new_calendar() -> Calendar:
    """An empty VCALENDAR with our product id. icalendar is imported here, when a calendar is
    built, not with the module: the message registry imports this module for every command."""
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    return calendar


def _panels_on(tests: Sequence[TestDue], due_on: date) -> list[str]:
    """The panel names due that day, each once (the event's UID is made of them)."""
    return list(dict.fromkeys(test.panel for test in tests if test.due_on == due_on))


def _all_day_event(
    clinic: Clinic, due_on: date, panels: Sequence[str], *, on: date, stamp: datetime
) -> Event:
    event = _new_event()
    event.add("uid", _uid(clinic, due_on.isoformat(), panels))
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", on)
    event.add("dtend", on + timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    return event


def _new_event() -> Event:
    from icalendar import Event  # as in `_new_calendar`

    return Event()


def _capital(words: str) -> str:
    return f"{words[:1].upper()}{words[1:]}"


def _call(clinic: Clinic) -> str:
    return f"\nQuestions? Call {clinic.phone}."


def _serialize(calendar: Calendar) -> str:
    serialized: bytes = calendar.to_ical()
    return serialized.decode("utf-8")


def _uid(clinic: Clinic, day: str, panels: Sequence[str]) -> str:
    key = "\x1f".join([clinic.name, day, *sorted(set(panels))])
    return f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{UID_DOMAIN}"


LIVE_UID_DOMAIN = "calendar.invalid"
REFRESH = timedelta(hours=6)


def build_live_calendar(
    clinic: Clinic, owner: str, tests: Sequence[TestDue], *, stamp: datetime
) -> str:
    """A patient's subscribed calendar (`/calendar/<token>.ics`): one all-day event per due
    date with tests still to do, worded like the due reminder's. Each UID comes from `owner`
    (whose calendar, never an MRN) and the date, so a rebuild keeps it and a calendar app
    updates the event in place; a date whose every test is done, waived or cancelled is left
    out, which removes its event. May be empty (nothing due)."""
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError("stamp must be an aware datetime")
    calendar = _new_calendar()
    calendar.add("x-wr-calname", f"Tests - {clinic.name}")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for due_on, phrases in group_by_date(tests).items():
        event = _new_event()
        key = f"{owner}\x1f{due_on.isoformat()}"
        event.add(
            "uid", f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{LIVE_UID_DOMAIN}"
        )
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", due_on)
        event.add("dtend", due_on + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        event.add("summary", f"Tests due - {clinic.name}")
        words = _capital(join_words(phrases))
        event.add("description", f"{words}, due by this date.{_call(clinic)}")
        calendar.add_component(event)
    return _serialize(calendar)
