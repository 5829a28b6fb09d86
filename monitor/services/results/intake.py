"""Taking in results the way a clinic does: store, re-match, flag, and alert staff at once.

The urgent-flag emails are queued in the same transaction as the results that raised them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.services.audit import record_change
from monitor.services.mail.digest import queue_flag_alerts
from monitor.services.results.recording import Recorded, ResultIn, add_results
from monitor.store.models import Result


def record_results(
    session: Session, batch: Sequence[ResultIn], *, today: date, now: datetime, config: Config
) -> Recorded:
    """Store results (InvalidInput refuses the whole batch) and queue urgent-flag alerts."""
    recorded = add_results(
        session,
        batch,
        today=today,
        now=now,
        rules=config.rule_settings,
        analytes=config.analyte_catalogue,
    )
    queue_flag_alerts(session, recorded.flags, config=config, now=now)
    return recorded


def audit_entry(session: Session, result: Result, *, actor: str, now: datetime) -> None:
    """Audit a result a person typed in (imports are audited by source, not per result)."""
    record_change(
        session,
        at=now,
        actor=actor,
        action="result.add",
        entity="result",
        entity_id=result.id,
        patient_id=result.patient_id,
        after={
            "analyte": result.analyte,
            "value": result.value,
            "unit": result.unit,
            "collected_on": result.collected_on.isoformat(),
        },
    )
