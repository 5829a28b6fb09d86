"""The reminder emails offer the patient's live calendar link beside the attachment, when the
clinic has a public address and the patient has a link; never otherwise."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.config import Config
from monitor.domain.vocabulary import OutboxStatus
from monitor.services.access.calendars import issue_calendar, revoke_calendar
from monitor.services.mail.daily import run_daily
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.conftest import clinic_config

COURSE = [date(2026, 1, 5) + timedelta(days=d) for d in range(5)]
PUBLIC = "https://monitor.clinic.example"


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=7)


def first_reminder(engine: Engine, config: Config) -> OutboxMessage:
    """Run the daily cycles from the course on until the first patient email is queued."""
    day = COURSE[-1]
    for _ in range(90):
        day += timedelta(days=1)
        run_daily(engine, on=day, config=config, now=at(day))
        with unit_of_work(engine) as session:
            row = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.message.like("patient-%"),
                    OutboxMessage.status == OutboxStatus.PENDING,
                )
            ).first()
            if row is not None:
                session.expunge(row)
                return row
    raise AssertionError("no reminder in 90 days")


def add_pat(engine: Engine, config: Config) -> None:
    with unit_of_work(engine, config.catalogue) as session:
        add_patient(
            session, mrn="RX-1", name="Pat Example", email="pat@example.org",
            born_on=date(1980, 6, 1), sex="F", site="main", actor="test", now=at(COURSE[0]),
        )  # fmt: skip
        add_course(session, mrn="RX-1", infused_on=COURSE, actor="test", now=at(COURSE[0]))


def test_the_reminder_offers_the_live_link(engine: Engine) -> None:
    config = clinic_config({"web": {"public_url": PUBLIC + "/"}})
    add_pat(engine, config)
    with unit_of_work(engine) as session:
        token = issue_calendar(session, "RX-1", actor="test", now=at(COURSE[0]))
    row = first_reminder(engine, config)
    url = f"{PUBLIC}/calendar/{token}.ics"
    assert url in row.body_text
    assert row.body_html is not None and f'href="{url}"' in row.body_html
    assert row.calendar is not None  # the attachment is still there


@pytest.mark.parametrize("case", ["no public address", "no link", "revoked link"])
def test_no_link_without_a_public_address_or_a_live_calendar(engine: Engine, case: str) -> None:
    overrides = {} if case == "no public address" else {"web": {"public_url": PUBLIC}}
    config = clinic_config(overrides)
    add_pat(engine, config)
    if case != "no link":
        with unit_of_work(engine) as session:
            issue_calendar(session, "RX-1", actor="test", now=at(COURSE[0]))
            if case == "revoked link":
                revoke_calendar(session, "RX-1", actor="test", now=at(COURSE[0]))
    row = first_reminder(engine, config)
    assert "Dear Pat" in row.body_text  # a real email, not a skipped row
    assert "/calendar/" not in row.body_text
    assert "/calendar/" not in (row.body_html or "")
    assert "calendar app" not in row.body_text
