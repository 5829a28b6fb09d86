"""Open urgent and emergency alerts: the one answer the Today page, the overdue lists and the
nurses' digest all read, so they cannot disagree about who has one.

An alert is a result with an open urgent or emergency flag; its row holds every open flag of
that result (a review beside the urgent one included), as the flag lists do.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus
from monitor.services.results.flagged import FlaggedResult, flagged_results
from monitor.store.models import Flag

ALERTING = (Severity.URGENT, Severity.EMERGENCY)


def open_alerts(session: Session, site: str | None = None) -> list[FlaggedResult]:
    """Results with an open urgent or emergency flag (of one site), most severe then newest."""
    alerting = select(Flag.result_id).where(
        Flag.status == FlagStatus.OPEN, Flag.severity.in_(ALERTING)
    )
    return flagged_results(
        session, Flag.status == FlagStatus.OPEN, Flag.result_id.in_(alerting), site=site
    )


def alert_levels(alerts: Iterable[FlaggedResult]) -> dict[int, str]:
    """The most serious open alert of each patient that has one ("urgent" or "emergency")."""
    levels: dict[int, Severity] = {}
    for alert in alerts:
        known = levels.get(alert.patient_id)
        if known is None or alert.group.severity.rank > known.rank:
            levels[alert.patient_id] = alert.group.severity
    return {patient_id: severity.value for patient_id, severity in levels.items()}
