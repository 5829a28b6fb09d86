"""The .ics attachment: all-day events on the due date (due) or the booking day (overdue)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from monitor.notify.calendar import build_calendar, build_overdue_calendar
from monitor.notify.messages import Clinic, TestDue

CLINIC = Clinic("Riverside Neurology", "020 7946 0000")
STAMP = datetime(2026, 3, 5, 6, 30, tzinfo=UTC)
TESTS = [
    TestDue("cbc", date(2026, 3, 12)),
    TestDue("tsh", date(2026, 3, 12)),
    TestDue("lft", date(2026, 3, 12)),
    TestDue("skin", date(2026, 4, 2)),
]


def events(text: str) -> list:
    return Calendar.from_ical(text).walk("VEVENT")


def test_it_parses_back_as_a_published_calendar():
    calendar = Calendar.from_ical(build_calendar(CLINIC, TESTS, stamp=STAMP))
    assert calendar.name == "VCALENDAR"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["PRODID"])


def test_one_all_day_event_per_due_date():
    found = events(build_calendar(CLINIC, TESTS, stamp=STAMP))
    assert [e.decoded("DTSTART") for e in found] == [date(2026, 3, 12), date(2026, 4, 2)]
    for event in found:
        start = event.decoded("DTSTART")
        assert type(start) is date
        assert event["DTSTART"].params["VALUE"] == "DATE"
        assert event.decoded("DTEND") == start + timedelta(days=1)
        assert event.decoded("DTSTAMP") == STAMP
        assert str(event["SUMMARY"]) == "Tests due - Riverside Neurology"


def test_the_description_has_the_plain_words_and_the_clinic_phone():
    first, second = events(build_calendar(CLINIC, TESTS, stamp=STAMP))
    assert str(first["DESCRIPTION"]) == (
        "Your routine blood and urine tests and your thyroid blood test, due by this date.\n"
        "Questions? Call 020 7946 0000."
    )
    assert "Your yearly skin check" in str(second["DESCRIPTION"])
    assert "Questions? Call 020 7946 0000" in str(second["DESCRIPTION"])


def test_it_says_nothing_a_patient_email_may_not_say():
    text = build_calendar(CLINIC, TESTS, stamp=STAMP)
    forbidden = r"alemtuzumab|lemtrada|campath|sclerosis|\bms\b|mrn|urgent|emergency|flag|result"
    assert not re.search(forbidden, text, re.IGNORECASE)


def test_uids_are_stable_and_differ_by_date_clinic_and_panels():
    def uids(clinic: Clinic, tests: list[TestDue]) -> list[str]:
        return [str(e["UID"]) for e in events(build_calendar(clinic, tests, stamp=STAMP))]

    first = uids(CLINIC, TESTS)
    assert len(set(first)) == 2
    assert uids(CLINIC, list(reversed(TESTS))) == first
    assert uids(CLINIC, TESTS) == first
    later_stamp = events(build_calendar(CLINIC, TESTS, stamp=STAMP + timedelta(days=3)))
    assert [str(e["UID"]) for e in later_stamp] == first
    assert uids(Clinic("Hillside", CLINIC.phone), TESTS)[0] != first[0]
    assert uids(CLINIC, TESTS[:1])[0] != first[0]


def test_the_stamp_is_written_in_utc():
    plus_two = datetime(2026, 3, 5, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    text = build_calendar(CLINIC, TESTS, stamp=plus_two)
    assert "DTSTAMP:20260305T063000Z" in text


def test_a_naive_stamp_is_refused():
    with pytest.raises(ValueError, match="aware"):
        build_calendar(CLINIC, TESTS, stamp=datetime(2026, 3, 5, 6, 30))  # noqa: DTZ001


def test_no_tests_no_calendar():
    with pytest.raises(ValueError):
        build_calendar(CLINIC, [], stamp=STAMP)


# --- overdue reminders: "book your tests" on the day after the email --------------------------

EMAILED_ON = date(2026, 3, 20)  # eight days after the 12 March tests were due


def overdue(tests: list[TestDue] = TESTS[:3], emailed_on: date = EMAILED_ON) -> list:
    return events(build_overdue_calendar(CLINIC, tests, emailed_on=emailed_on, stamp=STAMP))


def test_an_overdue_event_is_an_all_day_booking_nudge_on_the_day_after_the_email():
    (event,) = overdue()
    assert event.decoded("DTSTART") == date(2026, 3, 21)
    assert type(event.decoded("DTSTART")) is date
    assert event["DTSTART"].params["VALUE"] == "DATE"
    assert event.decoded("DTEND") == date(2026, 3, 22)
    assert str(event["SUMMARY"]) == "Book your tests - Riverside Neurology"
    assert str(event["DESCRIPTION"]) == (
        "Your routine blood and urine tests and your thyroid blood test, due by Thursday 12 March "
        "2026: if you have not had them done yet, please book them now.\n"
        "Questions? Call 020 7946 0000."
    )


def test_an_overdue_event_is_never_on_a_past_date_whatever_the_due_dates():
    emailed_on = date(2026, 5, 1)
    found = overdue(TESTS, emailed_on=emailed_on)
    assert len(found) == 2  # one per due date, as in the due reminder
    assert {e.decoded("DTSTART") for e in found} == {emailed_on + timedelta(days=1)}
    assert "Your yearly skin check, due by Thursday 2 April 2026: if you have not had it done" in (
        str(found[1]["DESCRIPTION"])
    )


def test_an_overdue_event_updates_the_due_event_of_the_same_tests():
    (due_event, _) = events(build_calendar(CLINIC, TESTS, stamp=STAMP))
    (first,) = overdue(emailed_on=date(2026, 3, 20))
    (second,) = overdue(emailed_on=date(2026, 3, 26))

    assert str(first["UID"]) == str(second["UID"]) == str(due_event["UID"])
    assert "SEQUENCE" not in due_event  # 0
    assert 0 < first.decoded("SEQUENCE") < second.decoded("SEQUENCE")


def test_an_overdue_calendar_says_nothing_a_patient_email_may_not_say():
    text = build_overdue_calendar(CLINIC, TESTS, emailed_on=EMAILED_ON, stamp=STAMP)
    forbidden = r"alemtuzumab|lemtrada|campath|sclerosis|\bms\b|mrn|urgent|emergency|flag|result"
    assert not re.search(forbidden, text, re.IGNORECASE)
    assert "\r\n" in text and not re.search(r"(?<!\r)\n", text)  # RFC 5545 content lines


def test_an_overdue_calendar_needs_tests_and_an_aware_stamp():
    with pytest.raises(ValueError):
        build_overdue_calendar(CLINIC, [], emailed_on=EMAILED_ON, stamp=STAMP)
    with pytest.raises(ValueError, match="aware"):
        naive = datetime(2026, 3, 5, 6, 30)  # noqa: DTZ001
        build_overdue_calendar(CLINIC, TESTS, emailed_on=EMAILED_ON, stamp=naive)
