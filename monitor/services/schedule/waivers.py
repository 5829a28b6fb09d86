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
    protocol: str | None = None,
) -> Waiver:
    """Waive the slot of `panel` due on `due_on` (of `protocol`'s series; it may be left out
    when only one series has such a slot); it leaves the overdue list. Audited.

    The slot is looked up in the patient's current schedule (rebuilt first if it came from
    another definition than the unit of work's); the waiver's own rebuild happens at commit.
    """
    if not by.strip() or not reason.strip():
        raise FieldError("a waiver needs ", Field.WAIVED_BY, " and a ", Field.REASON)
    by = checked_line(by, Field.WAIVED_BY, PERSON_LENGTH)
    reason = checked_note(reason, Field.REASON)
    panel = checked_line(panel, Field.PANEL, PANEL_LENGTH)
    patient = find_patient(session, mrn)
    bring_current(session, patient)
    slot = _the_slot(session, patient.id, mrn, panel, due_on, protocol)
    if slot.is_waived:
        raise InvalidInput(f"the {panel} slot due on {due_on} is already waived")
    waiver = Waiver(
        patient_id=patient.id,
        protocol=slot.protocol,
        panel=panel,
        due_on=due_on,
        waived_by=by,
        reason=reason,
        waived_at=now,
    )
    session.add(waiver)
    session.flush()  # the audit entry names the waiver's id
    key = {"protocol": slot.protocol, "panel": panel, "due_on": due_on.isoformat()}
    record_change(
        session,
        at=now,
        actor=by,
        action="slot.waive",
        entity="slot",
        entity_id=waiver.id,
        patient_id=patient.id,
        before={**key, "waived": False},
        after={**key, "waived": True, "reason": reason},
    )
    return waiver


def _the_slot(
    session: Session, patient_id: int, mrn: str, panel: str, due_on: date, protocol: str | None
) -> Slot:
    """The one slot named; NotFound if none, InvalidInput naming the protocols if several
    series have one and `protocol` does not choose (SPEC §10.4)."""
    query = select(Slot).where(
        Slot.patient_id == patient_id, Slot.panel == panel, Slot.due_on == due_on
    )
    if protocol is not None:
        query = query.where(Slot.protocol == protocol)
    slots = session.scalars(query.order_by(Slot.protocol)).all()
    if not slots:
        of = f" {protocol}" if protocol is not None else ""
        raise NotFound(f"{mrn} has no{of} {panel} slot due on {due_on}")
    if len(slots) > 1:
        names = ", ".join(slot.protocol for slot in slots)
        raise InvalidInput(
            f"{mrn} has a {panel} slot due on {due_on} under several protocols ({names}): "
            "say which with --protocol"
        )
    return slots[0]
