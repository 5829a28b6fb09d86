"""The Today page's lists for all sites at once, and their shaping for one page.

Computed whole by `take_snapshot` (the service's overdue and week lists) and kept between
requests by `web.cache`; a page then filters, orders and pages them in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.orm import Session

from monitor.domain.catalogue import Catalogue
from monitor.domain.rules import Severity
from monitor.services.people.record import patient_names, sites
from monitor.services.schedule.worklist import (
    Line,
    overdue_lines,
    week_lines,
)


@dataclass(frozen=True)
class Snapshot:
    """Everything the Today page lists for one clinic date, all sites."""

    on: date
    stamp: tuple[int, ...]
    taken_at: float
    overdue: list[Line]
    week: list[Line]
    sites: list[str]
    # Change ids below the stamp with no committed record when last looked for (`web.cache`).
    unsettled: frozenset[int] = frozenset()


def take_snapshot(
    session: Session, on: date, catalogue: Catalogue, stamp: tuple[int, ...]
) -> Snapshot:
    return Snapshot(
        on=on,
        stamp=stamp,
        taken_at=time.monotonic(),
        overdue=overdue_lines(session, on, catalogue),
        week=week_lines(session, on, catalogue),
        sites=sites(session),
    )


def flagged_first(lines: Sequence[Line], alerts: dict[int, str]) -> list[Line]:
    """Patients with an open urgent or emergency flag first (the most severe first), the rest
    in their order."""
    flagged = [line for line in lines if line.patient_id in alerts]
    flagged.sort(key=lambda line: -Severity(alerts[line.patient_id]).rank)
    return flagged + [line for line in lines if line.patient_id not in alerts]


def keep(lines: Iterable[Line], site: str | None, panel: str | None) -> list[Line]:
    """Lines of one site and/or one panel (a line keeps only that panel's items)."""
    kept = []
    for line in lines:
        if site is not None and line.site != site:
            continue
        if panel is not None:
            items = [item for item in line.items if item.panel == panel]
            if not items:
                continue
            line = replace(line, items=tuple(items))
        kept.append(line)
    return kept


def for_display(session: Session, lines: Sequence[Line], alerts: dict[int, str]) -> list[Line]:
    """Copies of the lines about to be shown, with names and open-flag badges (one page)."""
    names = patient_names(session, [line.patient_id for line in lines])
    return [
        replace(line, name=names.get(line.patient_id, ""), alert=alerts.get(line.patient_id))
        for line in lines
    ]
