"""The quarantine: what an import could not take in, until someone retries or drops it.

A retry reads the kept raw text again (the caller passes the parser, so this module knows no
format) and imports it. When the item itself fails again (its one problem, or a problem with
the item's own raw text), it stays open with the new reason and nothing new is quarantined.
Otherwise it is marked `retried`; when it was a whole message of which parts still fail (e.g. a
message kept whole for an identity mismatch, whose record was then corrected, holding a code
nobody mapped), those parts go to the quarantine as new items, as a first import would have
put them. Dropping needs a reason. Both are audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.fields import checked_note
from monitor.domain.vocabulary import QuarantineStatus
from monitor.errors import Field, FieldError, InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.services.results.imports import (
    ImportContext,
    ImportReport,
    import_items,
    quarantine_problem,
)
from monitor.services.results.incoming import Parsed
from monitor.services.results.quarantined import QuarantineEntry, entry_of
from monitor.store.models import QuarantineItem

Reparse = Callable[[QuarantineEntry], list[Parsed]]


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
) -> list[tuple[QuarantineEntry, ImportReport]]:
    """Retry one open item (or every open one); each item's outcome with its report."""
    items = [_open_item(session, item_id)] if item_id is not None else open_items(session)
    outcomes = []
    for item in items:
        report = import_items(session, reparse(entry_of(item)), context, quarantine=False)
        if _fails_again(item, report):
            item.reason = "; ".join(dict.fromkeys(report.problems))
        else:
            _close(item, QuarantineStatus.RETRIED, context.now, actor, _summary(report))
            _quarantine_parts(session, item, report, context)
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
        outcomes.append((entry_of(item), report))
    return outcomes


def _fails_again(item: QuarantineItem, report: ImportReport) -> bool:
    """The item as a whole is refused again: it is the one problem and nothing of it went in,
    or one of the problems is the item's own raw text."""
    went_in = report.stored + report.duplicates + report.skipped
    if len(report.held) == 1 and not went_in:
        return True
    return any(problem.raw == item.raw for problem in report.held)


def _quarantine_parts(
    session: Session, item: QuarantineItem, report: ImportReport, context: ImportContext
) -> None:
    """A whole message that now reads (its patient's record was corrected, say) is taken in as a
    first import would take it: what still fails goes to the quarantine item by item, each with
    its own raw text and reason, and the whole item is closed as retried, naming them."""
    if not report.held:
        return
    ids = [quarantine_problem(session, problem, context.now) for problem in report.held]
    report.quarantine_ids += ids
    item.resolution = f"{item.resolution}; quarantined again as {', '.join(map(str, ids))}"


def drop_item(
    session: Session, item_id: int, *, reason: str, actor: str, now: datetime
) -> QuarantineItem:
    """Close an item without importing it; the reason is kept and audited."""
    if not reason.strip():
        raise FieldError(Field.REASON, " must say why the item is dropped")
    reason = checked_note(reason, Field.REASON)
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
