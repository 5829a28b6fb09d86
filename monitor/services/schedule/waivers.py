"""Waiving a slot: a nurse decides one due test need not be done (with a reason)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.fields import PANEL_LENGTH, PERSON_LENGTH, checked_line, checked_note
from monitor.domain.protocol import Protocol
from monitor.errors import Field, FieldError, InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.services.schedule.slots import ensure_current_slots, rebuild_slots
from monitor.store.models import Slot, Waiver
from monitor.store.queries import find_patient


def waive_slot(
    session: Session,
    *,
    mrn: str,
    panel: str,
    due_on: date,
    by: str,
    reason: str,
    now: datetime,
    protocol: Protocol,
) -> Waiver:
    """Waive the slot of `panel` due on `due_on`; it leaves the overdue list. Audited."""
    if not by.strip() or not reason.strip():
        raise FieldError("a waiver needs ", Field.WAIVED_BY, " and a ", Field.REASON)
    by = checked_line(by, Field.WAIVED_BY, PERSON_LENGTH)
    reason = checked_note(reason, Field.REASON)
    panel = checked_line(panel, Field.PANEL, PANEL_LENGTH)
    patient = find_patient(session, mrn)
    ensure_current_slots(session, patient, protocol)  # look the slot up in the current schedule
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
    rebuild_slots(session, patient, protocol)
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
