"""The quarantine: what an import could not take in, until someone retries or drops it.

A retry reads the kept raw text again (the caller passes the parser, so this module knows no
format) and imports it without creating new quarantine rows: when everything in it is now
stored or already there, the item is marked `retried`; otherwise it stays open with the new
reason. Dropping needs a reason. Both are audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.fields import checked_note
from monitor.errors import InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.services.imports import ImportContext, ImportReport, import_items
from monitor.services.incoming import Parsed
from monitor.store.models import QuarantineItem, QuarantineStatus

Reparse = Callable[[QuarantineItem], list[Parsed]]


def open_items(session: Session, *, include_closed: bool = False) -> Sequence[QuarantineItem]:
    query = select(QuarantineItem).order_by(QuarantineItem.id)
    if not include_closed:
        query = query.where(QuarantineItem.status == QuarantineStatus.OPEN)
    return session.scalars(query).all()


def retry_items(
    session: Session,
    item_id: int | None,
    reparse: Reparse,
    context: ImportContext,
    actor: str,
) -> list[tuple[QuarantineItem, ImportReport]]:
    """Retry one open item (or every open one); each item's outcome with its report."""
    items = [_open_item(session, item_id)] if item_id is not None else open_items(session)
    outcomes = []
    for item in items:
        report = import_items(session, reparse(item), context, quarantine=False)
        if report.problems:
            item.reason = "; ".join(dict.fromkeys(report.problems))
        else:
            _close(item, QuarantineStatus.RETRIED, context.now, actor, _summary(report))
            record_change(
                session,
                at=context.now,
                actor=actor,
                action="quarantine.retry",
                entity="quarantine",
                entity_id=item.id,
                patient_id=None,
                before={"status": QuarantineStatus.OPEN.value},
                after={"status": item.status.value, "resolution": item.resolution},
            )
        outcomes.append((item, report))
    return outcomes


def drop_item(
    session: Session, item_id: int, *, reason: str, actor: str, now: datetime
) -> QuarantineItem:
    """Close an item without importing it; the reason is kept and audited."""
    if not reason.strip():
        raise InvalidInput("--reason must say why the item is dropped")
    reason = checked_note(reason, "--reason")
    item = _open_item(session, item_id)
    _close(item, QuarantineStatus.DROPPED, now, actor, reason)
    record_change(
        session,
        at=now,
        actor=actor,
        action="quarantine.drop",
        entity="quarantine",
        entity_id=item.id,
        patient_id=None,
        before={"status": QuarantineStatus.OPEN.value, "reason": item.reason},
        after={"status": item.status.value, "resolution": reason},
    )
    return item


def _open_item(session: Session, item_id: int) -> QuarantineItem:
    item = session.get(QuarantineItem, item_id)
    if item is None:
        raise NotFound(f"unknown quarantine id {item_id}")
    if item.status is not QuarantineStatus.OPEN:
        raise InvalidInput(f"quarantine item {item_id} is already {item.status.value}")
    return item


def _close(
    item: QuarantineItem, status: QuarantineStatus, now: datetime, actor: str, resolution: str
) -> None:
    item.status = status
    item.resolved_at, item.resolved_by, item.resolution = now, actor, resolution


def _summary(report: ImportReport) -> str:
    return (
        f"stored {report.stored}, already there {report.duplicates}, not results {report.skipped}"
    )
