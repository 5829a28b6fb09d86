"""Patients we could not reach: their reminder was skipped or failed in the last week.

The Today page and the nurses' digest both read `unreachable`, so they name the same patients
with the same reason: the newest one of each patient (docs/decisions.md, "Status pages,
placeholder configuration and skipped sends").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from monitor.domain.reminders import DUE_DATE_PASSED, SUPERSEDED_PREFIX
from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.notify.registry import PATIENT_MESSAGES
from monitor.services.listing import where_equal
from monitor.store.models import OutboxMessage, Patient

UNREACHABLE_DAYS = 7


@dataclass(frozen=True)
class Unreachable:
    patient_id: int
    mrn: str
    name: str
    site: str
    why: str
    on: date | None


def unreachable(session: Session, on: date, site: str | None) -> list[Unreachable]:
    """Patients whose reminders were skipped or failed in the `UNREACHABLE_DAYS` up to `on`,
    newest reason each, by MRN.

    A skip the reminder rules chose (a superseded step, a due date passed) is left out: the
    patient was reminded by another message. Those are left out in SQL and only the columns the
    reason is made of are read (a large clinic's first week has tens of thousands of skips: at
    100,000 patients, reading them made each Today page cost half a second, issue 15).
    """
    outcome = (
        OutboxMessage.status, OutboxMessage.reason, OutboxMessage.channel,
        OutboxMessage.last_error, OutboxMessage.run_on,
    )  # fmt: skip
    query = (
        select(Patient.id, Patient.mrn, Patient.name, Patient.site, *outcome)
        .join(Patient, Patient.id == OutboxMessage.patient_id)
        .where(
            OutboxMessage.message.in_(PATIENT_MESSAGES),
            OutboxMessage.status.in_([OutboxStatus.SKIPPED, OutboxStatus.FAILED]),
            OutboxMessage.run_on >= on - timedelta(days=UNREACHABLE_DAYS - 1),
            OutboxMessage.run_on <= on,
            not_(timing_skip()),
        )
        .order_by(OutboxMessage.id.desc())
    )
    seen: dict[int, Unreachable] = {}
    rows = session.execute(where_equal(query, Patient.site, site))
    for pid, mrn, name, row_site, status, reason, channel, last_error, run_on in rows:
        if pid not in seen:
            why = why_not_sent(status, reason, channel, last_error)
            seen[pid] = Unreachable(pid, mrn, name, row_site, why, run_on)
    return sorted(seen.values(), key=lambda u: u.mrn)


def timing_skip() -> ColumnElement[bool]:
    """`domain.reminders.is_timing_skip` of a skipped row, in SQL (a test holds the two to the
    same answer for every reason the product writes)."""
    reason = OutboxMessage.reason
    return and_(
        OutboxMessage.status == OutboxStatus.SKIPPED,
        reason.is_not(None),
        or_(  # a prefix by substr, not LIKE: SQLite's LIKE ignores case
            reason == DUE_DATE_PASSED,
            func.substr(reason, 1, len(SUPERSEDED_PREFIX)) == SUPERSEDED_PREFIX,
        ),
    )


def why_not_sent(
    status: OutboxStatus, reason: str | None, channel: Channel, last_error: str | None
) -> str:
    """The skip's reason ("no postal address", ...), or the failure and its channel's word."""
    if status is OutboxStatus.SKIPPED:
        return reason or "skipped"
    what = "SMS delivery" if channel is Channel.SMS else "delivery"
    return f"{what} failed: {last_error or 'unknown error'}"
