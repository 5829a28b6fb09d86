"""The calendar each reminder of a daily cycle carries, read back from the delivered .eml file.

A due reminder's events sit on the due dates; an overdue reminder's on the day after the email
("book your tests"), never on a date already past (docs/decisions.md).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from icalendar import Calendar
from sqlalchemy import Engine, select

from monitor.config import parse_config
from monitor.notify.transports import FileTransport
from monitor.services.mail.daily import run_daily
from monitor.services.mail.outbox import drain_outbox
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage

CONFIG = parse_config(
    {
        "clinic": {"name": "Riverside Neurology", "phone": "020 7946 0000"},
        "email": {"from": "monitor@riverside.example"},
        "staff": {
            "digest_to": ["nurses@riverside.example"],
            "urgent_to": ["doctors@riverside.example"],
        },
    }
)
COURSE = [date(2026, 1, 5) + timedelta(days=d) for d in range(5)]  # no results ever arrive
SENDER = "monitor@riverside.example"
BARE_LF = re.compile(rb"(?<!\r)\n")
FORBIDDEN = re.compile(
    r"alemtuzumab|lemtrada|campath|sclerosis|\bms\b|mrn|RX-1|1980|result|flag", re.IGNORECASE
)


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=7)


def add_untested_patient(engine: Engine) -> None:
    with unit_of_work(engine, CONFIG.catalogue) as session:
        add_patient(
            session,
            mrn="RX-1",
            name="Pat Example",
            email="pat@example.org",
            born_on=date(1980, 6, 1),
            sex="F",
            site="main",
            actor="test",
            now=at(COURSE[0]),
        )
        add_course(
            session,
            mrn="RX-1",
            infused_on=COURSE,
            actor="test",
            now=at(COURSE[0]),
        )


def delivered(tmp_path: Path, engine: Engine, on: date) -> dict[str, EmailMessage]:
    """Run the cycle for `on`, deliver through the file transport, read every .eml back."""
    folder = tmp_path / on.isoformat()
    run_daily(engine, on=on, config=CONFIG, now=at(on))
    drain_outbox(engine, FileTransport(folder), now_fn=lambda: at(on), sender=SENDER)
    with unit_of_work(engine) as session:
        kinds = {
            row.message_id: row.message
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.run_on == on))
        }
    parser = BytesParser(policy=policy.default)
    emails: dict[str, EmailMessage] = {}
    for eml in folder.glob("*.eml"):
        data = eml.read_bytes()
        assert not BARE_LF.search(data)
        parsed = parser.parsebytes(data)
        assert isinstance(parsed, EmailMessage)
        emails[kinds[parsed["Message-ID"].strip()]] = parsed  # a long one is folded
    return emails


def calendar_events(email: EmailMessage) -> list:
    (attachment,) = email.iter_attachments()
    ics = attachment.get_payload(decode=True)
    assert isinstance(ics, bytes) and not BARE_LF.search(ics)
    assert not FORBIDDEN.search(ics.decode("utf-8"))
    return Calendar.from_ical(ics).walk("VEVENT")


def test_an_overdue_reminders_calendar_says_book_your_tests_on_the_day_after_the_email(
    engine: Engine, tmp_path: Path
) -> None:
    add_untested_patient(engine)
    on = date(2026, 3, 1)  # the baseline and the February tests are overdue by now

    emails = delivered(tmp_path, engine, on)

    found = calendar_events(emails["patient-tests-overdue"])
    assert found
    assert {e.decoded("DTSTART") for e in found} == {on + timedelta(days=1)}
    assert {str(e["SUMMARY"]) for e in found} == {"Book your tests - Riverside Neurology"}
    assert all(e.decoded("DTSTART") > e.decoded("DTSTAMP").date() for e in found)
    assert all("please book" in str(e["DESCRIPTION"]) for e in found)


def test_a_due_reminders_calendar_keeps_its_events_on_the_due_dates(
    engine: Engine, tmp_path: Path
) -> None:
    add_untested_patient(engine)
    on = date(2026, 3, 5)  # the 9 March tests are due within the week

    due_events = calendar_events(delivered(tmp_path, engine, on)["patient-tests-due"])

    assert [e.decoded("DTSTART") for e in due_events] == [date(2026, 3, 9)]
    assert str(due_events[0]["SUMMARY"]) == "Tests due - Riverside Neurology"
