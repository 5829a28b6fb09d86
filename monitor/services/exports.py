"""The lists a clinic takes away as spreadsheets: the overdue list with how to reach each
patient, the flags, the audit trail. Each is read through the service its screen uses
(`schedule.chasing.chase_list`, `results.flagged.flag_list`, `audit.audit_list`), so a sheet
and its page cannot disagree; `adapters.spreadsheets` writes them as CSV or .xlsx.

Cells are plain values: text, whole numbers, dates. Instants are written in the clinic's time
zone as "YYYY-MM-DD HH:MM" text (a spreadsheet has no time zones).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.services.audit import AuditFilter, audit_list
from monitor.services.results.flagged import FlagFilter, flag_list
from monitor.services.schedule.chasing import chase_list

Cell = str | int | float | date | None

OVERDUE_COLUMNS = (
    "mrn",
    "name",
    "phone",
    "email",
    "site",
    "protocol",
    "panel",
    "due_on",
    "days_overdue",
    "missed",
    "open_flag",
    "last_contact_at",
    "last_contact_outcome",
    "last_contact_by",
    "booked_on",
)
FLAG_COLUMNS = (
    "flag_id",
    "mrn",
    "name",
    "site",
    "analyte",
    "severity",
    "value",
    "unit",
    "collected_on",
    "rule",
    "message",
    "status",
    "acknowledged_by",
    "acknowledged_at",
    "acknowledged_note",
)
AUDIT_COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "entity",
    "entity_id",
    "patient_id",
    "before",
    "after",
)


@dataclass(frozen=True)
class Sheet:
    """One table to write: a title (the .xlsx sheet's name), its columns and rows."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def overdue_sheet(
    session: Session,
    on: date,
    catalogue: Catalogue,
    zone: ZoneInfo,
    *,
    site: str | None = None,
    panel: str | None = None,
    include_booked: bool = False,
) -> Sheet:
    """The overdue list as of `on`, one row per overdue slot, as `monitor overdue` lists it
    (booked patients left out unless `include_booked`)."""
    listed = chase_list(session, on, catalogue, site, include_booked=include_booked)
    rows: list[tuple[Cell, ...]] = []
    for row in listed.rows:
        slot, reach, last = row.slot, row.reach, row.reach.last
        if panel is not None and slot.panel != panel:
            continue
        rows.append(
            (
                slot.mrn,
                reach.name,
                reach.phone,
                reach.email,
                slot.site,
                slot.protocol,
                slot.panel,
                slot.due_on,
                slot.days_overdue,
                slot.missed,
                slot.open_alert,
                _local(last.contacted_at, zone) if last else None,
                last.outcome.value if last else None,
                last.contact_by if last else None,
                row.booked_on,
            )
        )
    return Sheet(f"Overdue {on.isoformat()}", OVERDUE_COLUMNS, rows)


def flags_sheet(session: Session, wanted: FlagFilter, zone: ZoneInfo) -> Sheet:
    """Every flag of the flagged results `wanted` picks (the Flags page's filters), one row per
    flag, most severe then newest result first."""
    rows: list[tuple[Cell, ...]] = []
    for found in flag_list(session, wanted, limit=None):
        for flag in found.group.flags:
            if wanted.status is not None and flag.status.value != wanted.status:
                continue
            result = flag.result
            rows.append(
                (
                    flag.id,
                    found.mrn,
                    found.name,
                    found.site,
                    result.analyte,
                    flag.severity.value,
                    result.value,
                    result.unit,
                    result.collected_on,
                    flag.rule,
                    flag.message,
                    flag.status.value,
                    flag.acknowledged_by,
                    _local(flag.acknowledged_at, zone) if flag.acknowledged_at else None,
                    flag.acknowledged_note,
                )
            )
    return Sheet("Flags", FLAG_COLUMNS, rows)


def audit_sheet(session: Session, wanted: AuditFilter, zone: ZoneInfo) -> Sheet:
    """The audit entries `wanted` picks, oldest first; before/after as JSON text."""
    rows: list[tuple[Cell, ...]] = [
        (
            entry.id,
            _local(entry.at, zone),
            entry.actor,
            entry.action,
            entry.entity,
            entry.entity_id,
            entry.patient_id,
            _json(entry.before),
            _json(entry.after),
        )
        for entry in audit_list(session, wanted, newest_first=False, limit=None)
    ]
    return Sheet("Audit", AUDIT_COLUMNS, rows)


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
