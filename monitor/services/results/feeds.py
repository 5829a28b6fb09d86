"""Lab feed freshness: a source that has gone quiet is the lab's problem, not the patient's.

The last result from each source is read from the results themselves (`received_at`), so
nothing extra is kept. A patient is served by the source of their most recently received result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.store.models import Result


@dataclass(frozen=True)
class LateFeed:
    source: str
    last_received_at: datetime | None
    stale_after_days: int

    def describe(self) -> str:
        since = (
            f"since {self.last_received_at.date().isoformat()}" if self.last_received_at else "ever"
        )
        return (
            f"Results feed late: {self.source} has sent nothing {since} "
            f"(expected within {self.stale_after_days} days); overdue tests of its patients "
            "may be waiting for the lab, not the patient."
        )


def late_feeds(session: Session, config: Config, now: datetime) -> list[LateFeed]:
    """Configured sources (`[sources.<name>] stale_after_days`) that have gone quiet."""
    late = []
    for name, source in sorted(config.sources.items()):
        last = session.scalar(select(func.max(Result.received_at)).where(Result.source == name))
        if last is not None and last.tzinfo is None:  # SQLite aggregates come back naive
            last = last.replace(tzinfo=now.tzinfo)
        if last is None or now - last > timedelta(days=source.stale_after_days):
            late.append(LateFeed(name, last, source.stale_after_days))
    return late


def patients_served_by(session: Session, sources: list[str]) -> set[int]:
    """Patients whose most recently received result came from one of `sources`."""
    if not sources:
        return set()
    latest = (
        select(Result.patient_id, func.max(Result.received_at).label("last"))
        .group_by(Result.patient_id)
        .subquery()
    )
    rows = session.execute(
        select(Result.patient_id)
        .join(
            latest,
            (latest.c.patient_id == Result.patient_id) & (latest.c.last == Result.received_at),
        )
        .where(Result.source.in_(sources))
    )
    return {patient_id for (patient_id,) in rows}
