"""The Today page's lists, by patient: who is overdue, and whose tests are due this week.

Both are read from the stored slots with `store.slot_predicates` (the overdue list is
`store.queries.overdue_list`, the one the `overdue` command and the digest print), so the page,
the command and the email cannot disagree about who is overdue. `patient_ids` restricts either
list to some patients: the web cache patches the patients that changed through the very query
that computed the whole list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.services.results.alerts import alert_levels, open_alerts
from monitor.store.models import Patient, Slot, SlotChange
from monitor.store.queries import OverdueRow, overdue_list, panel_rank
from monitor.store.slot_predicates import active_on, due_between

WEEK_DAYS = 7


@dataclass(frozen=True)
class Item:
    """One slot on a patient's line: overdue (days > 0) or due this week (days <= 0)."""

    panel: str
    due_on: date
    days_overdue: int
    missed: int = 0
    protocol: str = "alemtuzumab"


@dataclass(frozen=True)
class Line:
    """One patient on a list, with the slots that put them there (shared between requests, so
    never changed: `replace` makes the copy a page shows, with the name and open-flag badge)."""

    patient_id: int
    mrn: str
    site: str
    items: tuple[Item, ...]
    name: str = ""
    alert: str | None = None

    @property
    def worst(self) -> int:
        return max(item.days_overdue for item in self.items)

    @property
    def first_due(self) -> date:
        return min(item.due_on for item in self.items)


@dataclass(frozen=True)
class OverdueSlot(OverdueRow):
    """One row of the nurses' overdue list as `monitor overdue` and the digest show it: the
    slot, the patient's most serious open alert, and whether their lab feed has gone quiet."""

    open_alert: str | None = None
    feed_late: bool = False


def overdue_slots(
    session: Session,
    on: date,
    catalogue: Catalogue,
    site: str | None,
    feed_late: Collection[int],
    *,
    rows: Sequence[OverdueRow] | None = None,
) -> list[OverdueSlot]:
    """Every overdue slot as of `on` (one site's, or all), most overdue first, with alerts.

    `rows` is `store.queries.overdue_list` for `on` and `site` when the caller has read it
    already (the daily cycle reads it once for the digests and the escalations)."""
    if rows is None:
        rows = overdue_list(session, on, catalogue.panel_ranks(), site)
    alerts = alert_levels(open_alerts(session, site))
    return [
        OverdueSlot(
            **vars(r), open_alert=alerts.get(r.patient_id), feed_late=r.patient_id in feed_late
        )
        for r in rows
    ]


def overdue_lines(
    session: Session, on: date, catalogue: Catalogue, patient_ids: Collection[int] | None = None
) -> list[Line]:
    """The overdue list as of `on` by patient, most overdue first, then by MRN."""
    rows = overdue_list(session, on, catalogue.panel_ranks(), patient_ids=patient_ids)
    lines = group(
        (r.patient_id, r.mrn, r.site, Item(r.panel, r.due_on, r.days_overdue, r.missed, r.protocol))
        for r in rows
    )
    return sorted(lines, key=overdue_order)


def week_lines(
    session: Session, on: date, catalogue: Catalogue, patient_ids: Collection[int] | None = None
) -> list[Line]:
    """Slots due from `on` to six days later that are not done yet, by patient, soonest first.

    `window_end` is bounded too (a slot's window ends at most the longest `window_after_days`
    after its due date), so the query is a range scan of the window-end index, not of the table.
    """
    last = on + timedelta(days=WEEK_DAYS - 1)
    longest_after = catalogue.longest_window_after
    rank = panel_rank(Slot.protocol, Slot.panel, catalogue.panel_ranks())
    query = (
        select(Patient.id, Patient.mrn, Patient.site, Slot.panel, Slot.due_on, Slot.protocol)
        .join(Patient, Patient.id == Slot.patient_id)
        .where(
            Slot.window_end <= last + timedelta(days=longest_after),
            due_between(Slot, on, last),
            active_on(on),
        )
        .order_by(Slot.due_on, Patient.mrn, rank)
    )
    if patient_ids is not None:
        query = query.where(Slot.patient_id.in_(list(patient_ids)))
    rows = session.execute(query)
    return group(
        (pid, mrn, site, Item(panel, due, (on - due).days, protocol=protocol))
        for pid, mrn, site, panel, due, protocol in rows
    )


def group(rows: Iterable[tuple[int, str, str, Item]]) -> list[Line]:
    """Items by patient, in first-seen order."""
    found: dict[int, tuple[str, str, list[Item]]] = {}
    for pid, mrn, site, item in rows:
        found.setdefault(pid, (mrn, site, []))[2].append(item)
    return [Line(pid, mrn, site, tuple(items)) for pid, (mrn, site, items) in found.items()]


def overdue_order(line: Line) -> tuple[int, str]:
    """Most overdue first, then by MRN."""
    return (-line.worst, line.mrn)


def week_order(line: Line) -> tuple[date, str]:
    """Soonest due first, then by MRN (the order of the week query)."""
    return (line.first_due, line.mrn)


# --- the change records, as a cache of these lists reads them -----------------------------------


def change_ids_from(session: Session, first: int) -> set[int]:
    """The ids of the change records from `first` on (an index-only range scan)."""
    return set(session.scalars(select(SlotChange.id).where(SlotChange.id >= first)))


def changes_after(session: Session, last: int, also: Collection[int] = ()) -> list[tuple[int, int]]:
    """(id, patient id) of the change records after the id `last`, and of those among `also`
    (ids below it that were not committed when last looked for)."""
    after = SlotChange.id > last
    wanted = after | SlotChange.id.in_(list(also)) if also else after
    rows = session.execute(select(SlotChange.id, SlotChange.patient_id).where(wanted))
    return [(change_id, patient_id) for change_id, patient_id in rows]
