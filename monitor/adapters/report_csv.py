"""The reports as data: the adherence report's JSON and CSV, the REMS list's CSV (one spelling
each, for the command line and the Reports page's downloads). Keys and columns are a contract
(docs/operations.md, "Reports"); text cells are guarded against spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from monitor.adapters.cells import safe_cell
from monitor.services.reports.adherence import (
    AdherenceReport,
    AdherenceRow,
    Counts,
    Outcome,
    ReportBy,
)
from monitor.services.reports.rems import PanelMonth, RemsList

COUNT_COLUMNS = (
    "due", "done", "late", "overdue", "missed", "waived", "cancelled", "open", "assessed",
    "on_time_pct", "completed_pct",
)  # fmt: skip
REMS_COLUMNS = ("mrn", "site", "month", "protocol", "panels_due", "panels_done")


def adherence_json(report: AdherenceReport) -> dict[str, Any]:
    """The whole report: its filter, rows, per-panel totals, total and the lateness bins."""
    wanted = report.wanted
    return {
        "from": wanted.first_on.isoformat(),
        "to": wanted.last_on.isoformat(),
        "as_of": report.on.isoformat(),
        "by": report.by.value,
        "site": wanted.site,
        "protocol": wanted.protocol,
        "rows": [_row_json(row, report.by) for row in report.rows],
        "panel_totals": [
            {"protocol": row.protocol, "panel": row.panel, **row.counts.as_dict()}
            for row in report.panel_totals()
        ],
        "total": report.total.as_dict(),
        "days_past_due": [
            {"days": b.label, "low": b.low, "high": b.high, "late": b.late, "not_done": b.not_done}
            for b in report.lateness
        ],
    }


def _row_json(row: AdherenceRow, by: ReportBy) -> dict[str, Any]:
    head = {"month": row.month} if by is ReportBy.MONTH else {"mrn": row.mrn}
    return {**head, "site": row.site, "protocol": row.protocol, "panel": row.panel,
            **row.counts.as_dict()}  # fmt: skip


def adherence_csv(report: AdherenceReport) -> str:
    """One line per row of the report (month or MRN, site, protocol, panel, the counts)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = "month" if report.by is ReportBy.MONTH else "mrn"
    writer.writerow((head, "site", "protocol", "panel", *COUNT_COLUMNS))
    for row in report.rows:
        first = row.month if report.by is ReportBy.MONTH else row.mrn
        writer.writerow(
            (safe_cell(first or ""), safe_cell(row.site), row.protocol, row.panel,
             *_count_cells(row.counts))
        )  # fmt: skip
    return out.getvalue()


def _count_cells(counts: Counts) -> list[Any]:
    values = counts.as_dict()
    return ["" if values[name] is None else values[name] for name in COUNT_COLUMNS]


def rems_csv(listing: RemsList) -> str:
    """One line per patient and month: how many panels were due and done, then a column per
    panel of the protocol: the day it was done (`late` after it if after its window), or how it
    stands (overdue, missed, waived, cancelled, open); empty when not due that month."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*REMS_COLUMNS, *listing.panels))
    for row in listing.rows:
        by_panel: dict[str, list[str]] = {}
        for slot in row.slots:
            by_panel.setdefault(slot.panel, []).append(rems_words(slot))
        done = sum(slot.outcome in (Outcome.DONE, Outcome.LATE) for slot in row.slots)
        writer.writerow(
            (safe_cell(row.mrn), safe_cell(row.site), row.month, row.protocol, len(row.slots),
             done, *("; ".join(by_panel.get(panel, [])) for panel in listing.panels))
        )  # fmt: skip
    return out.getvalue()


def rems_words(slot: PanelMonth) -> str:
    """A slot in the REMS list's words: its completion day, or its outcome."""
    if slot.outcome is Outcome.DONE and slot.completed_on is not None:
        return slot.completed_on.isoformat()
    if slot.outcome is Outcome.LATE and slot.completed_on is not None:
        return f"{slot.completed_on.isoformat()} late"
    return slot.outcome.value
