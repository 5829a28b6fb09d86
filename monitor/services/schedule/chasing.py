"""Chasing overdue patients: who to call (with their phone and last contact), who is booked and
so hidden for now, and who has gone too long without being reached (escalation).

One home for each question, asked by every screen:

- `split_booked`: the overdue list leaves out patients whose last contact booked them for the
  list's date or later (`contacts.booked_ahead`); they are back the day after the booked date.
  Today, `monitor overdue` and the exports all filter through it.
- `chase_list`: the overdue list as `monitor overdue` and the exports print it, each row with
  the patient's name, phone, email and last contact.
- `escalations`: patients overdue for more than `[chasing] escalate_after_days` with no
  successful contact since the oldest of their overdue tests fell due; the digest lists them
  and the daily cycle sends each one once per episode (`services.mail.escalation`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.services.people.contacts import (
    ContactView,
    booked_ahead,
    last_contacts,
    last_successful,
)
from monitor.services.schedule.worklist import OverdueSlot, overdue_slots
from monitor.store.models import Patient
from monitor.store.queries import OverdueRow, overdue_list

IDS_PER_QUERY = 1000


class OfPatient(Protocol):
    @property
    def patient_id(self) -> int: ...


T = TypeVar("T", bound=OfPatient)


def split_booked(items: Iterable[T], booked: Collection[int]) -> tuple[list[T], list[T]]:
    """`items` (lines or rows of the overdue list) without, and of, the patients in `booked`
    (`contacts.booked_ahead` for the list's date)."""
    shown: list[T] = []
    hidden: list[T] = []
    for item in items:
        (hidden if item.patient_id in booked else shown).append(item)
    return shown, hidden


@dataclass(frozen=True)
class Reach:
    """How to reach a patient and the last time someone tried (staff only)."""

    name: str
    phone: str | None
    email: str | None
    last: ContactView | None


def reach(session: Session, patient_ids: Sequence[int]) -> dict[int, Reach]:
    """Name, phone, email and last contact of these patients (two queries per thousand ids)."""
    ids = list(dict.fromkeys(patient_ids))
    last = last_contacts(session, ids)
    found: dict[int, Reach] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        rows = session.execute(
            select(Patient.id, Patient.name, Patient.phone, Patient.email).where(
                Patient.id.in_(ids[start : start + IDS_PER_QUERY])
            )
        )
        for pid, name, phone, email in rows:
            found[pid] = Reach(name, phone, email, last.get(pid))
    return found


@dataclass(frozen=True)
class ChaseRow:
    """One overdue slot with how to reach its patient; `booked_on` is set only for a patient
    booked ahead (shown when the list is asked to include them)."""

    slot: OverdueSlot
    reach: Reach
    booked_on: date | None = None

    @property
    def patient_id(self) -> int:
        return self.slot.patient_id


@dataclass(frozen=True)
class ChaseList:
    rows: list[ChaseRow]
    hidden_patients: int  # booked ahead and left out (0 when they are included)


def chase_list(
    session: Session,
    on: date,
    catalogue: Catalogue,
    site: str | None,
    feed_late: Collection[int] = frozenset(),
    *,
    include_booked: bool = False,
) -> ChaseList:
    """The overdue list as of `on` (`worklist.overdue_slots`), booked patients left out unless
    `include_booked`, each row with its patient's contact details and last contact."""
    slots = overdue_slots(session, on, catalogue, site, feed_late)
    booked = booked_ahead(session, on)
    shown, hidden = split_booked(slots, booked)
    kept = slots if include_booked else shown
    details = reach(session, [slot.patient_id for slot in kept])
    rows = [ChaseRow(slot, details[slot.patient_id], booked.get(slot.patient_id)) for slot in kept]
    hidden_patients = 0 if include_booked else len({slot.patient_id for slot in hidden})
    return ChaseList(rows, hidden_patients)


@dataclass(frozen=True)
class Escalation:
    """A patient overdue too long without a successful contact. `overdue_since` is the due
    date of their oldest overdue test: with the patient, it names the overdue episode."""

    patient_id: int
    mrn: str
    site: str
    overdue_since: date
    days_overdue: int
    panels: tuple[str, ...]
    last: ContactView | None


def escalations(
    session: Session,
    on: date,
    catalogue: Catalogue,
    *,
    after_days: int,
    zone: ZoneInfo,
    site: str | None = None,
    rows: Sequence[OverdueRow] | None = None,
) -> list[Escalation]:
    """Patients overdue as of `on` for more than `after_days` (the list's `days_overdue` of
    their oldest overdue test) with no `reached` or `booked` contact since that test fell due
    (from the start of that day in the clinic's zone), most overdue first. A patient booked
    ahead is left out while hidden from the overdue list.

    `rows` is `store.queries.overdue_list` for `on` and `site` when the caller has read it
    already (the daily cycle: the digests list the same rows)."""
    if rows is None:
        rows = overdue_list(session, on, catalogue.panel_ranks(), site)
    oldest: dict[int, tuple[str, str, date, list[str]]] = {}
    for row in rows:  # most overdue first: a patient's first row is their oldest test
        entry = oldest.setdefault(row.patient_id, (row.mrn, row.site, row.due_on, []))
        if row.due_on == entry[2] and row.panel not in entry[3]:
            entry[3].append(row.panel)
    late = {pid: e for pid, e in oldest.items() if (on - e[2]).days > after_days}
    booked = booked_ahead(session, on)
    reached = last_successful(session, list(late))
    last = last_contacts(session, list(late))
    found = [
        Escalation(pid, mrn, row_site, since, (on - since).days, tuple(panels), last.get(pid))
        for pid, (mrn, row_site, since, panels) in late.items()
        if pid not in booked and not _reached_since(reached.get(pid), since, zone)
    ]
    return sorted(found, key=lambda e: (-e.days_overdue, e.mrn))


def _reached_since(at: datetime | None, since: date, zone: ZoneInfo) -> bool:
    return at is not None and at >= datetime.combine(since, time(), tzinfo=zone)
