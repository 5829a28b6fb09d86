"""What every report is asked for: a period of due dates, a site, a protocol; and its checks.

A report covers the slots **due** in the period (`first_on <= due_on <= last_on`, both days
included), each with its status as of the report's date (docs/decisions.md, "Adherence
reports"). The checks are the front ends' bad input (exit 2, the page's message): a period that
ends before it starts, a site no patient belongs to, a protocol the configuration does not
define.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.schedule import add_months
from monitor.errors import InvalidInput
from monitor.services.people.record import sites
from monitor.store.models import Patient, Slot

DEFAULT_MONTHS = 12  # the page's period when none is asked: this month and the 11 before


@dataclass(frozen=True)
class ReportFilter:
    first_on: date
    last_on: date
    site: str | None = None
    protocol: str | None = None


def default_period(today: date) -> tuple[date, date]:
    """The 12 calendar months ending with today's month (the page's first view)."""
    this_month = today.replace(day=1)
    return add_months(this_month, 1 - DEFAULT_MONTHS), add_months(this_month, 1) - timedelta(days=1)


def checked_filter(session: Session, catalogue: Catalogue, wanted: ReportFilter) -> ReportFilter:
    """`wanted` if the period, site and protocol make sense; InvalidInput naming the fault."""
    if wanted.last_on < wanted.first_on:
        raise InvalidInput(
            f"the period ends ({wanted.last_on.isoformat()}) before it starts "
            f"({wanted.first_on.isoformat()})"
        )
    if wanted.site is not None:
        known = sites(session)
        if wanted.site not in known:
            shown = ", ".join(known) or "none"
            raise InvalidInput(f"unknown site {wanted.site[:64]!r} (sites: {shown})")
    if wanted.protocol is not None:
        catalogue.plan(wanted.protocol)  # UnknownProtocol names the configured ones
    return wanted


def in_report(wanted: ReportFilter) -> ColumnElement[bool]:
    """The slots a report counts (with `Slot` joined to its `Patient`)."""
    condition = and_(Slot.due_on >= wanted.first_on, Slot.due_on <= wanted.last_on)
    if wanted.site is not None:
        condition = and_(condition, Patient.site == wanted.site)
    if wanted.protocol is not None:
        condition = and_(condition, Slot.protocol == wanted.protocol)
    return condition
