"""Waiving a slot: a nurse decides one due test need not be done (with a reason).

Which slots may be waived (`waivable`: not done, not waived, due within about three months) is
the policy the patient page offers. `waive_slot` itself refuses only a slot that does not exist
or is waived already, and the CLI (`monitor slot waive`) does not apply the three-month horizon:
a nurse may waive a slot further ahead from the command line.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.fields import PANEL_LENGTH, PERSON_LENGTH, checked_line, checked_note
from monitor.domain.status import SlotStatus
from monitor.errors import Field, FieldError, InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.services.schedule.upkeep import bring_current
from monitor.services.schedule.view import ScheduleView, SlotView
from monitor.store.models import Slot, Waiver
from monitor.store.queries import find_patient

WAIVABLE = (SlotStatus.DUE, SlotStatus.OVERDUE, SlotStatus.MISSED, SlotStatus.UPCOMING)
WAIVE_AHEAD_DAYS = 92


def waivable(view: ScheduleView, today: date) -> list[SlotView]:
    """Slots a nurse may waive: not done, not already waived, due within about three months."""
    horizon = today + timedelta(days=WAIVE_AHEAD_DAYS)
    return [s for s in view.slots if s.status in WAIVABLE and s.due_on <= horizon]


def waive_slot(
    session: Session,
    *,
    mrn: str,
    panel: str,
    due_on: date,
    by: str,
    reason: str,
    now: datetime,
) -> Waiver:
    """Waive the slot of `panel` due on `due_on`; it leaves the overdue list. Audited.

    The slot is looked up in the patient's current schedule (rebuilt first if it came from
    another protocol than the unit of work's); the waiver's own rebuild happens at commit.
    """
    if not by.strip() or not reason.strip():
        raise FieldError("a waiver needs ", Field.WAIVED_BY, " and a ", Field.REASON)
    by = checked_line(by, Field.WAIVED_BY, PERSON_LENGTH)
    reason = checked_note(reason, Field.REASON)
    panel = checked_line(panel, Field.PANEL, PANEL_LENGTH)
    patient = find_patient(session, mrn)
    bring_current(session, patient)
    slot = session.scalar(
        select(Slot).where(
            Slot.patient_id == patient.id, Slot.panel == panel, Slot.due_on == due_on
        )
    )
    if slot is None:
        raise NotFound(f"{mrn} has no {panel} slot due on {due_on}")
    if slot.is_waived:
        raise InvalidInput(f"the {panel} slot due on {due_on} is already waived")
    waiver = Waiver(
        patient_id=patient.id,
        panel=panel,
        due_on=due_on,
        waived_by=by,
        reason=reason,
        waived_at=now,
    )
    session.add(waiver)
    session.flush()  # the audit entry names the waiver's id
    record_change(
        session,
        at=now,
        actor=by,
        action="slot.waive",
        entity="slot",
        entity_id=waiver.id,
        patient_id=patient.id,
        before={"panel": panel, "due_on": due_on.isoformat(), "waived": False},
        after={"panel": panel, "due_on": due_on.isoformat(), "waived": True, "reason": reason},
    )
    return waiver
