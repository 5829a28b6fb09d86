"""Flags, called directly: `raise_flags` stores each finding once (a higher one later is a new
row), `acknowledge_flag` closes every open flag of the result and audits each, and
`group_by_result` shows one row per result, worst first."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus
from monitor.errors import InvalidInput, NotFound
from monitor.services.results.flagged import group_by_result
from monitor.services.results.flags import acknowledge_flag, raise_flags
from monitor.services.results.recording import store_result
from monitor.store.db import unit_of_work
from monitor.store.models import Flag, Patient, Result
from tests.services.clinic import (
    CONFIG,
    MRN,
    NOW,
    PROTOCOL,
    TODAY,
    audit_actions,
    audit_entries,
    enrol,
    result_in,
)

RULES = CONFIG.rule_settings
FIRST, SECOND = date(2025, 2, 10), date(2025, 3, 1)


def store_and_flag(engine: Engine, value: str, on: date) -> list[tuple[str, Severity]]:
    """Store one platelet count and run the rules on it; the (rule, severity) stored."""
    with unit_of_work(engine, PROTOCOL) as session:
        patient = session.scalars(select(Patient).where(Patient.mrn == MRN)).one()
        row = store_result(
            session, patient, result_in("platelets", value, "10^9/L", on), today=TODAY, now=NOW
        )
        flags = raise_flags(session, patient, [row], RULES, NOW)
        return sorted((flag.rule, flag.severity) for flag in flags)


def open_flag_ids(engine: Engine) -> list[int]:
    with unit_of_work(engine) as session:
        query = select(Flag.id).where(Flag.status == FlagStatus.OPEN).order_by(Flag.id)
        return list(session.scalars(query))


@pytest.fixture
def two_flags(engine: Engine) -> list[int]:
    """A fall from 300 to 60: one result, two open flags (low and fall)."""
    enrol(engine)
    assert store_and_flag(engine, "300", FIRST) == []
    found = store_and_flag(engine, "60", SECOND)
    assert [rule for rule, _ in found] == ["platelets.fall", "platelets.low"]
    return open_flag_ids(engine)


def test_a_normal_count_raises_nothing(engine: Engine) -> None:
    enrol(engine)
    assert store_and_flag(engine, "250", FIRST) == []
    assert open_flag_ids(engine) == []


def test_a_low_count_is_stored_once_with_its_severity(engine: Engine) -> None:
    enrol(engine)
    assert store_and_flag(engine, "40", SECOND) == [("platelets.low", Severity.EMERGENCY)]
    with unit_of_work(engine) as session:
        patient = session.scalars(select(Patient)).one()
        again = raise_flags(session, patient, session.scalars(select(Result)).all(), RULES, NOW)
    assert again == []  # the same finding at the same severity is not stored twice
    assert len(open_flag_ids(engine)) == 1


def test_acknowledging_one_flag_closes_every_open_flag_of_its_result(
    engine: Engine, two_flags: list[int]
) -> None:
    with unit_of_work(engine) as session:
        closed = acknowledge_flag(session, flag_id=two_flags[0], by="Nurse Kim", note="seen",
                                  now=NOW + timedelta(hours=1))  # fmt: skip
        assert sorted(flag.id for flag in closed) == two_flags
    assert open_flag_ids(engine) == []
    entries = audit_entries(engine, "flag.acknowledge")
    assert sorted(entry.entity_id for entry in entries if entry.entity_id) == two_flags
    assert {(entry.actor, entry.after["note"]) for entry in entries if entry.after} == {
        ("Nurse Kim", "seen")
    }


def test_an_acknowledged_flag_cannot_be_acknowledged_again(
    engine: Engine, two_flags: list[int]
) -> None:
    with unit_of_work(engine) as session:
        acknowledge_flag(session, flag_id=two_flags[0], by="Nurse Kim", note=None, now=NOW)
    with pytest.raises(InvalidInput, match=f"flag {two_flags[1]} is already acknowledged"):
        with unit_of_work(engine) as session:
            acknowledge_flag(session, flag_id=two_flags[1], by="Nurse Jo", note=None, now=NOW)
    assert len(audit_entries(engine, "flag.acknowledge")) == 2


def test_an_unknown_flag_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="unknown flag id 99"):
        with unit_of_work(engine) as session:
            acknowledge_flag(session, flag_id=99, by="Nurse Kim", note=None, now=NOW)


@pytest.mark.parametrize(
    ("by", "note", "message"),
    [
        ("  ", None, "the acknowledgement must name who acknowledged the flag"),
        ("Nurse\nKim", None, "the acknowledgement must be one line"),
        ("Nurse Kim", "bell\x07", "note must not contain control characters"),
    ],
)
def test_a_bad_acknowledgement_names_the_field_and_changes_nothing(
    engine: Engine, two_flags: list[int], by: str, note: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        with unit_of_work(engine) as session:
            acknowledge_flag(session, flag_id=two_flags[0], by=by, note=note, now=NOW)
    assert open_flag_ids(engine) == two_flags
    assert "flag.acknowledge" not in audit_actions(engine)


def test_group_by_result_gives_one_row_per_result_worst_first(
    engine: Engine, two_flags: list[int]
) -> None:
    store_and_flag(engine, "40", SECOND + timedelta(days=1))  # a second, worse result
    with unit_of_work(engine) as session:
        groups = group_by_result(session.scalars(select(Flag)))
        rows = [(group.severity, group.rules, group.is_open) for group in groups]
        lead_ids = [group.lead.id for group in groups]
    assert rows == [
        (Severity.EMERGENCY, ["platelets.low"], True),
        (Severity.URGENT, ["platelets.low", "platelets.fall"], True),
    ]
    assert lead_ids[1] in two_flags
