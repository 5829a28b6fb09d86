"""The waiver policy (`services.schedule.waivers`): which slots the patient page offers to
waive, and that `waive_slot` itself applies no horizon (the CLI can waive further ahead)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor.config import Config
from monitor.domain.status import SlotStatus
from monitor.errors import InvalidInput, NotFound
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.schedule.view import ScheduleView, SlotView
from monitor.services.schedule.waivers import WAIVE_AHEAD_DAYS, waivable, waive_slot
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Slot

TODAY = date(2024, 3, 1)
NOW = datetime(2024, 3, 1, tzinfo=UTC)
PROTOCOL = Config().catalogue


def slot(status: SlotStatus, due_on: date) -> SlotView:
    return SlotView("cbc", due_on, due_on, due_on, 1, "recurring", status, ())


def test_waivable_slots_are_open_ones_due_within_the_horizon() -> None:
    horizon = TODAY + timedelta(days=WAIVE_AHEAD_DAYS)
    slots = [
        slot(SlotStatus.OVERDUE, TODAY - timedelta(days=10)),
        slot(SlotStatus.MISSED, TODAY - timedelta(days=60)),
        slot(SlotStatus.DUE, TODAY),
        slot(SlotStatus.UPCOMING, horizon),
        slot(SlotStatus.UPCOMING, horizon + timedelta(days=1)),  # too far ahead
        slot(SlotStatus.DONE, TODAY - timedelta(days=30)),
        slot(SlotStatus.WAIVED, TODAY + timedelta(days=5)),
    ]
    offered = waivable(ScheduleView("A1", None, slots), TODAY)
    assert offered == slots[:4]


def test_waive_slot_applies_no_horizon_and_refuses_twice_or_a_slot_that_is_not_there(engine):
    far = date(2025, 1, 12)  # ten months ahead: the page would not offer it
    with unit_of_work(engine, PROTOCOL) as session:
        add_patient(session, mrn="A1", name="Ann", email=None, born_on=None, sex=None,
                    site="main", actor="t", now=NOW)  # fmt: skip
        course = [date(2024, 1, 8) + timedelta(days=d) for d in range(5)]
        add_course(session, mrn="A1", infused_on=course, actor="t", now=NOW)
    with unit_of_work(engine, PROTOCOL) as session:
        waiver = waive_slot(
            session, mrn="A1", panel="cbc", due_on=far, by="Nurse", reason="r", now=NOW
        )
    with unit_of_work(engine) as session:
        assert session.scalar(select(Slot.is_waived).where(Slot.due_on == far, Slot.panel == "cbc"))
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "slot.waive")).one()
        assert audited.entity_id == waiver.id
    with pytest.raises(InvalidInput, match="already waived"), unit_of_work(engine, PROTOCOL) as s:
        waive_slot(s, mrn="A1", panel="cbc", due_on=far, by="Nurse", reason="r", now=NOW)
    with pytest.raises(NotFound), unit_of_work(engine, PROTOCOL) as s:
        waive_slot(
            s, mrn="A1", panel="cbc", due_on=far + timedelta(days=1), by="N", reason="r", now=NOW
        )
