"""The message registry: one entry per message, one template folder each, no second name list."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import monitor
from monitor.domain.reminders import TESTS_DUE, TESTS_OVERDUE
from monitor.notify import registry
from monitor.notify.calendar import build_calendar, build_overdue_calendar
from monitor.notify.messages import Clinic, TestDue, patient_tests_due_context
from monitor.notify.registry import (
    MESSAGES,
    PATIENT_MESSAGES,
    PATIENT_TESTS_DUE,
    PATIENT_TESTS_OVERDUE,
    STAFF_DAILY_DIGEST,
    STAFF_URGENT_FLAG,
    Audience,
    Message,
    names,
    registered,
)
from monitor.resources import resource_path

CLINIC = Clinic("Riverside Neurology", "020 7946 0000")
TESTS = [TestDue("cbc", date(2026, 3, 12)), TestDue("tsh", date(2026, 3, 12))]
STAMP = datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
PACKAGE = Path(monitor.__file__).parent


def test_every_registered_message_has_its_template_folder_and_every_folder_a_message():
    folder = resource_path("templates") / "email"
    folders = {p.name for p in folder.iterdir() if p.is_dir() and p.name != "_base"}
    assert folders == set(MESSAGES)
    for name in MESSAGES:
        assert {p.name for p in (folder / name).iterdir()} >= {"subject.txt", "body.txt"}


def test_the_messages_and_their_audiences():
    assert MESSAGES == (
        TESTS_DUE,
        TESTS_OVERDUE,
        "staff-daily-digest",
        "staff-urgent-flag",
        "staff-escalation",
    )
    assert PATIENT_MESSAGES == names(Audience.PATIENT) == (TESTS_DUE, TESTS_OVERDUE)
    assert names(Audience.STAFF) == ("staff-daily-digest", "staff-urgent-flag", "staff-escalation")
    for name in MESSAGES:  # house style: the audience comes first in the name
        assert name.startswith(f"{registered(name).audience.value}-")


def test_only_patient_reminders_carry_a_calendar():
    assert [name for name in MESSAGES if registered(name).calendar is not None] == [
        TESTS_DUE,
        TESTS_OVERDUE,
    ]


def test_a_message_name_is_spelled_once_in_the_package():
    """Every other list of names derives from the registry (the domain's rules name the two
    reminders they choose between; the registry registers those constants)."""
    homes = {
        TESTS_DUE: "domain/reminders.py",
        TESTS_OVERDUE: "domain/reminders.py",
        "staff-daily-digest": "notify/registry.py",
        "staff-urgent-flag": "notify/registry.py",
        "staff-escalation": "notify/registry.py",
    }
    assert set(homes) == set(MESSAGES)
    for name, home in homes.items():
        literal = re.compile(rf"[\"']{re.escape(name)}[\"']")
        found = [
            str(path.relative_to(PACKAGE))
            for path in sorted(PACKAGE.rglob("*.py"))
            for _ in literal.finditer(path.read_text(encoding="utf-8"))
        ]
        assert found == [home], name


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown message 'patient-results'; known: ") as error:
        registered("patient-results")
    for name in MESSAGES:
        assert name in str(error.value)


def test_a_name_cannot_be_registered_twice():
    twin = Message(TESTS_DUE, Audience.PATIENT, patient_tests_due_context, ("patient_id",))
    with pytest.raises(ValueError, match="registered twice"):
        registry._register(twin)
    assert registered(TESTS_DUE) is PATIENT_TESTS_DUE


# Dedupe keys ---------------------------------------------------------------------------------


def test_each_message_has_its_dedupe_key_shape():
    on = date(2026, 3, 5)
    parts = {"patient_id": 42, "site": "north", "run_on": on, "flag_id": 7}
    assert PATIENT_TESTS_DUE.dedupe_key(parts) == "patient-tests-due:42:2026-03-05"
    assert PATIENT_TESTS_OVERDUE.dedupe_key(parts) == "patient-tests-overdue:42:2026-03-05"
    assert STAFF_DAILY_DIGEST.dedupe_key(parts) == "staff-daily-digest:north:2026-03-05"
    assert STAFF_URGENT_FLAG.dedupe_key(parts) == "staff-urgent-flag:7"


def test_a_tag_files_a_skip_beside_its_message():
    key = STAFF_DAILY_DIGEST.dedupe_key({"site": "main", "run_on": date(2026, 3, 5)}, "not-built")
    assert key == "staff-daily-digest:main:2026-03-05:skipped:not-built"


@pytest.mark.parametrize("parts", [{"patient_id": 42}, {"patient_id": 42, "run_on": None}])
def test_a_dedupe_key_without_all_its_parts_is_refused(parts):
    with pytest.raises(ValueError, match="patient-tests-due: the dedupe key needs run_on"):
        PATIENT_TESTS_DUE.dedupe_key(parts)


# Drafts --------------------------------------------------------------------------------------


def test_a_draft_builds_the_registered_context():
    draft = PATIENT_TESTS_DUE.draft("Ann", CLINIC, TESTS)
    assert draft.context() == patient_tests_due_context("Ann", CLINIC, TESTS)


def test_a_due_reminders_calendar_is_the_due_calendar():
    draft = PATIENT_TESTS_DUE.draft("Ann", CLINIC, TESTS)
    assert draft.calendar(date(2026, 3, 5), STAMP) == build_calendar(CLINIC, TESTS, stamp=STAMP)


def test_an_overdue_reminders_calendar_books_from_the_cycle_date():
    on = date(2026, 3, 20)
    draft = PATIENT_TESTS_OVERDUE.draft("Ann", CLINIC, TESTS)
    expected = build_overdue_calendar(CLINIC, TESTS, emailed_on=on, stamp=STAMP)
    assert draft.calendar(on, STAMP) == expected


def test_a_calendar_needs_the_cycle_date_and_a_staff_message_has_none():
    with pytest.raises(ValueError, match="needs the cycle's date"):
        PATIENT_TESTS_DUE.draft("Ann", CLINIC, TESTS).calendar(None, STAMP)
    digest = STAFF_DAILY_DIGEST.draft(CLINIC, "main", date(2026, 3, 5), [], [], [])
    assert digest.calendar(None, STAMP) is None
