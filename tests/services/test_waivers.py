"""`waive_slot`, called directly: a waived slot leaves the overdue list and the waiver outlives
a rebuild; a bad waiver names the field at fault and writes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from monitor.errors import FieldError, InvalidInput, NotFound
from monitor.services.people.courses import add_course
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Waiver
from tests.services.clinic import (
    FEBRUARY,
    MRN,
    NOW,
    PROTOCOL,
    audit_entries,
    count,
    enrol,
    slot,
)


def waive(engine: Engine, **fields: object) -> Waiver:
    values: dict[str, object] = {
        "mrn": MRN, "panel": "cbc", "due_on": FEBRUARY, "by": "Nurse Jo",
        "reason": "done at the GP", "now": NOW,
    }  # fmt: skip
    with unit_of_work(engine, PROTOCOL) as session:
        return waive_slot(session, **(values | fields))  # type: ignore[arg-type]


def test_a_waived_slot_is_marked_and_audited(engine: Engine) -> None:
    enrol(engine)
    before = slot(engine, "cbc", FEBRUARY)
    assert before is not None and not before.is_waived
    waiver = waive(engine)
    after = slot(engine, "cbc", FEBRUARY)
    assert after is not None and after.is_waived
    assert (waiver.waived_by, waiver.reason) == ("Nurse Jo", "done at the GP")
    [entry] = audit_entries(engine, "slot.waive")
    assert entry.actor == "Nurse Jo"
    assert entry.after == {
        "protocol": "alemtuzumab", "panel": "cbc", "due_on": "2025-02-10", "waived": True,
        "reason": "done at the GP",
    }  # fmt: skip


def test_the_waiver_outlives_a_rebuild_of_the_schedule(engine: Engine) -> None:
    enrol(engine)
    waive(engine)
    with unit_of_work(engine, PROTOCOL) as session:  # a later course rebuilds every slot
        add_course(session, mrn=MRN, infused_on=[date(2026, 1, 12)],
                   actor="test", now=NOW)  # fmt: skip
    after = slot(engine, "cbc", FEBRUARY)
    assert after is not None and after.is_waived


def test_a_slot_cannot_be_waived_twice(engine: Engine) -> None:
    enrol(engine)
    waive(engine)
    with pytest.raises(InvalidInput, match="the cbc slot due on 2025-02-10 is already waived"):
        waive(engine, reason="again")
    assert count(engine, Waiver) == 1


def test_a_slot_that_is_not_in_the_schedule_is_not_found(engine: Engine) -> None:
    enrol(engine)
    with pytest.raises(NotFound, match="M1 has no cbc slot due on 2025-02-11"):
        waive(engine, due_on=date(2025, 2, 11))
    assert count(engine, Waiver) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"by": " "}, "a waiver needs who waived it and a reason"),
        ({"reason": ""}, "a waiver needs who waived it and a reason"),
        ({"by": "x" * 201}, "who waived it must have at most 200 characters"),
        ({"reason": "nul\x00"}, "reason must not contain control characters"),
        ({"panel": "cbc\n"}, None),  # stripped: a trailing line break is not part of the name
        ({"panel": "c\nbc"}, "panel must be one line"),
    ],
)
def test_a_bad_waiver_names_the_field_and_writes_nothing(
    engine: Engine, fields: dict[str, str], message: str | None
) -> None:
    enrol(engine)
    audited = count(engine, AuditEntry)
    if message is None:
        waive(engine, **fields)
        assert count(engine, Waiver) == 1
        return
    with pytest.raises(FieldError, match=message):
        waive(engine, **fields)
    assert count(engine, Waiver) == 0
    assert count(engine, AuditEntry) == audited
