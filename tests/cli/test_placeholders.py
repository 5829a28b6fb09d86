"""No placeholder reaches a patient (issue 10 item 3).

While `clinic.name`, `clinic.phone`, `email.from` or `staff.*` still hold the shipped placeholders
(the model's defaults, which config.toml repeats) the daily cycle decides no patient reminder;
they go out, with the clinic's own words, at the first cycle after the file is fixed. Staff
emails to placeholder addresses are recorded as skipped. The digest and `monitor status` say why.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select

from monitor.config import Config, load_config
from monitor.domain.vocabulary import OutboxStatus
from monitor.notify.registry import PATIENT_MESSAGES
from monitor.services.mail.daily import run_daily
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.store.db import unit_of_work
from monitor.store.models import Notice, OutboxMessage
from tests.conftest import Cli, clinic_config

REPO = Path(__file__).resolve().parents[2]
ALL_KEYS = ["clinic.name", "clinic.phone", "email.from", "staff.digest_to", "staff.urgent_to"]
DAY = date(2026, 3, 2)  # the monthly slot is due on 5 March, the baseline is overdue
COURSE = [date(2026, 2, 1) + timedelta(days=d) for d in range(5)]
OWN_CONFIG = """
[clinic]
name = "Riverside Neurology"
phone = "020 7946 0123"

[email]
from = "reminders@riverside.example"

[staff]
digest_to = ["ms-nurses@riverside.example"]
urgent_to = ["ms-doctors@riverside.example"]
"""


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)


def add_clinic(engine: Engine, config: Config) -> None:
    with unit_of_work(engine, config.catalogue) as session:
        add_patient(session, mrn="P1", name="Ann Example", email="ann@example.org", born_on=None,
                    sex="F", site="main", actor="test", now=at(DAY))  # fmt: skip
        add_course(session, mrn="P1", infused_on=COURSE, actor="test", now=at(DAY))


def rows(engine: Engine) -> list[OutboxMessage]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def notices(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return len(session.scalars(select(Notice.id)).all())


# --- what a placeholder is ------------------------------------------------------------------


def test_the_shipped_config_toml_and_no_config_at_all_are_equally_unconfigured() -> None:
    shipped = load_config(REPO / "config.toml")
    assert shipped.unconfigured_keys == ALL_KEYS
    assert Config().unconfigured_keys == ALL_KEYS
    for section in ("clinic", "email", "staff"):
        assert getattr(shipped, section) == getattr(Config(), section)
    assert clinic_config().unconfigured_keys == []


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("clinic", {"name": "Your clinic"}, "clinic.name"),
        ("clinic", {"phone": "000 000 0000"}, "clinic.phone"),
        ("email", {"from": "monitor@clinic.invalid"}, "email.from"),
        ("email", {"from": "Clinic <noreply@anything.INVALID>"}, "email.from"),
        ("staff", {"digest_to": ["nurses@clinic.invalid"]}, "staff.digest_to"),
        ("staff", {"digest_to": ["ms@x.example", "nurses@clinic.invalid"]}, "staff.digest_to"),
        ("staff", {"urgent_to": ["clinicians@clinic.invalid"]}, "staff.urgent_to"),
    ],
)
def test_any_one_placeholder_holds_every_patient_reminder_back(
    engine: Engine, section: str, values: dict[str, Any], key: str
) -> None:
    config = clinic_config({section: values})
    assert config.unconfigured_keys == [key]
    add_clinic(engine, config)

    report = run_daily(engine, on=DAY, config=config, now=at(DAY))

    assert report.held == 1
    assert [row for row in rows(engine) if row.message in PATIENT_MESSAGES] == []
    assert notices(engine) == 0  # nothing decided: the reminders are still due later


# --- through the commands -------------------------------------------------------------------


def test_with_no_config_nothing_goes_to_a_patient_and_status_says_why(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    add_clinic(engine, Config())
    with freeze_time(at(DAY)):
        daily = cli("daily")
        report = json.loads(cli("status", "--json").out)
        text = cli("status")

    assert daily.code == 0
    assert "warning: patient reminders are on hold: clinic.name, clinic.phone" in daily.err
    assert "(1 patient(s) waiting)" in daily.err
    assert notices(engine) == 0
    # the digest's address is a placeholder too: recorded, not sent (so is the escalation's)
    (digest,) = [row for row in rows(engine) if row.message == "staff-daily-digest"]
    assert (digest.message, digest.status) == ("staff-daily-digest", OutboxStatus.SKIPPED)
    assert digest.reason == (
        "staff.digest_to still holds the placeholder shipped with the product "
        "(set it in config.toml)"
    )
    assert text.code == 1
    assert report["unconfigured"] == ALL_KEYS
    hold = (
        "patient reminders are on hold: clinic.name, clinic.phone, email.from, staff.digest_to, "
        "staff.urgent_to still hold the placeholder shipped with the product; set them in "
        "config.toml and the held reminders go out at the next daily cycle"
    )
    assert report["problems"] == [hold]
    assert f"problem: {hold}" in text.out

    # The clinic sets its own values: the next cycle sends the reminders that were held.
    (tmp_path / "config.toml").write_text(OWN_CONFIG, encoding="utf-8")
    next_day = DAY + timedelta(days=1)
    with freeze_time(at(next_day)):
        assert cli("daily").err == ""
        status = cli("status", "--json")
    sent = {row.message: row for row in rows(engine) if row.status is OutboxStatus.PENDING}
    assert set(sent) == {
        "patient-tests-due",
        "patient-tests-overdue",
        "staff-daily-digest",
        "staff-escalation",  # held with staff.urgent_to, sent once it is set (issue 14)
    }
    for message in ("patient-tests-due", "patient-tests-overdue"):
        body = sent[message].body_text + (sent[message].body_html or "")
        assert "Riverside Neurology" in body and "020 7946 0123" in body
        assert "Your clinic" not in body and "000 000 0000" not in body
        assert "Your clinic" not in sent[message].subject
    assert sent["staff-daily-digest"].recipient == "ms-nurses@riverside.example"
    assert (status.code, json.loads(status.out)["problems"]) == (0, [])


def test_a_reminder_held_past_its_due_date_is_recorded_and_the_overdue_one_follows(
    engine: Engine,
) -> None:
    add_clinic(engine, Config())
    for offset in range(5):  # 2 to 6 March on hold; the slot was due on 5 March
        day = DAY + timedelta(days=offset)
        assert run_daily(engine, on=day, config=Config(), now=at(day)).held == 1
    assert notices(engine) == 0

    later = DAY + timedelta(days=5)
    run_daily(engine, on=later, config=clinic_config(), now=at(later))

    patient_rows = [
        (r.message, r.status, r.reason) for r in rows(engine) if r.message in PATIENT_MESSAGES
    ]
    assert sorted(patient_rows) == [
        ("patient-tests-due", OutboxStatus.SKIPPED,
         "the due date passed before a daily cycle could send it"),
        ("patient-tests-overdue", OutboxStatus.PENDING, None),
        ("patient-tests-overdue", OutboxStatus.SKIPPED,
         "superseded by the 7-day overdue reminder"),
    ]  # fmt: skip


def test_the_digest_says_why_reminders_are_held(engine: Engine) -> None:
    """Only the patient side unconfigured: the nurses still get the digest, and it says why."""
    config = clinic_config({"clinic": {"name": "Your clinic", "phone": "000 000 0000"}})
    add_clinic(engine, config)

    run_daily(engine, on=DAY, config=config, now=at(DAY))

    (digest,) = [row for row in rows(engine) if row.message == "staff-daily-digest"]
    assert digest.status is OutboxStatus.PENDING
    line = (
        "Patient reminders are on hold: clinic.name, clinic.phone still hold the placeholder "
        "shipped with the product; set them in config.toml and the held reminders go out at the "
        "next daily cycle (1 patient(s) would have been reminded today)."
    )
    assert line in digest.body_text
    assert digest.body_html is not None and line in digest.body_html
    assert "All clear" not in digest.body_text


@pytest.mark.parametrize(
    ("config", "status", "reason"),
    [
        (Config(), OutboxStatus.SKIPPED,
         "staff.urgent_to still holds the placeholder shipped with the product "
         "(set it in config.toml)"),
        (clinic_config(), OutboxStatus.PENDING, None),
    ],
)  # fmt: skip
def test_an_urgent_alert_to_a_placeholder_address_is_recorded_as_skipped(
    engine: Engine, config: Config, status: OutboxStatus, reason: str | None
) -> None:
    add_clinic(engine, config)
    result = ResultIn("P1", "platelets", "40", "10^9/L", DAY)
    with unit_of_work(engine, config.catalogue) as session:
        record_results(session, [result], today=DAY, now=at(DAY), config=config)

    (alert,) = rows(engine)
    assert (alert.message, alert.status, alert.reason) == ("staff-urgent-flag", status, reason)
