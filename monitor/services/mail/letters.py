"""`monitor letters`: print the reminder letters the daily cycles decided, into one PDF.

A letter is queued like an email (`queueing.queue_message`, channel `letter`, rendered when
decided) and waits in the outbox, `pending`, until it is printed: the drain never takes one.
Printing for a date D takes every letter decided on D or before that was never printed (so a
day nobody printed is not lost), oldest first, claimed by the outbox's own conditional update so
two people printing at once never both get a letter. Once the PDF is written each letter is
`sent` (`sent_at`: when it was printed); if writing fails, they go back to `pending`.

Printing D again prints nothing new: a letter is printed once. `reprint` adds the letters
already printed that D's cycle decided (the printer jammed, the file was lost), changing
nothing about them. Each print is audited with who printed how many.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, func, select, update
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.notify.letters import Letter, letters_pdf
from monitor.services.audit import record_change
from monitor.services.mail.outbox import claim_batch, default_owner
from monitor.store.models import OutboxMessage

MAX_LETTERS = 1000  # per PDF: a print run of a big backlog is split, the rest say so
PRINT_LEASE = timedelta(hours=1)  # WeasyPrint takes well under a second a page


@dataclass(frozen=True)
class PrintRun:
    on: date
    printed: list[int]  # outbox ids printed for the first time, in the PDF's order
    reprinted: list[int]  # already printed before, printed again (`reprint`)
    waiting: int  # letters still unprinted (over MAX_LETTERS)

    @property
    def pages(self) -> int:
        return 2 * (len(self.printed) + len(self.reprinted))


def print_letters(
    engine: Engine,
    *,
    on: date,
    now_fn: Callable[[], datetime],
    write: Callable[[bytes], None],
    actor: str,
    reprint: bool = False,
    owner: str | None = None,
) -> PrintRun:
    """Print the letters waiting as of `on` (and with `reprint` those printed for `on`) and
    hand the PDF to `write`; nothing is written when there is nothing to print."""
    owner = owner or default_owner()
    claimed = claim_batch(
        engine,
        now=now_fn(),
        owner=owner,
        limit=MAX_LETTERS,
        lease=PRINT_LEASE,
        channels=(Channel.LETTER,),
        also=OutboxMessage.run_on <= on,
    )
    try:
        with Session(engine) as session:
            again = _printed_for(session, on) if reprint else []
            rows = _rows(session, claimed) + again
            letters = [Letter(row.recipient, row.body_html or "") for row in rows]
        if letters:
            write(letters_pdf(letters))
    except BaseException:
        _release(engine, claimed, owner)
        raise
    run = PrintRun(on, claimed, [row.id for row in again], 0)
    _mark_printed(engine, run, owner, now_fn(), actor)
    return PrintRun(on, run.printed, run.reprinted, waiting_letters(engine, on))


def waiting_letters(engine: Engine, on: date) -> int:
    """Letters decided on `on` or before that were never printed."""
    query = select(func.count()).where(
        OutboxMessage.channel == Channel.LETTER,
        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        OutboxMessage.run_on <= on,
    )
    with Session(engine) as session:
        return session.scalar(query) or 0


def _rows(session: Session, ids: Sequence[int]) -> list[OutboxMessage]:
    if not ids:
        return []
    query = select(OutboxMessage).where(OutboxMessage.id.in_(list(ids)))
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def _printed_for(session: Session, on: date) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(
        OutboxMessage.channel == Channel.LETTER,
        OutboxMessage.status == OutboxStatus.SENT,
        OutboxMessage.run_on == on,
    )
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def _ours(ids: Sequence[int], owner: str) -> list[ColumnElement[bool]]:
    return [
        OutboxMessage.id.in_(list(ids)),
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claimed_by == owner,
    ]


def _release(engine: Engine, ids: Sequence[int], owner: str) -> None:
    """The PDF was not written: the letters wait to be printed again."""
    if not ids:
        return
    with engine.begin() as connection:
        connection.execute(
            update(OutboxMessage)
            .where(*_ours(ids, owner))
            .values(status=OutboxStatus.PENDING, claimed_by=None, claimed_until=None)
        )


def _mark_printed(engine: Engine, run: PrintRun, owner: str, now: datetime, actor: str) -> None:
    if not (run.printed or run.reprinted):
        return
    with Session(engine) as session, session.begin():
        if run.printed:
            session.execute(
                update(OutboxMessage)
                .where(*_ours(run.printed, owner))
                .values(
                    status=OutboxStatus.SENT,
                    sent_at=now,
                    attempts=OutboxMessage.attempts + 1,
                    claimed_by=None,
                    claimed_until=None,
                    reason=f"printed by {actor}",
                )
            )
        record_change(
            session,
            at=now,
            actor=actor,
            action="letters.print",
            entity="outbox",
            entity_id=None,
            patient_id=None,
            after={
                "on": run.on.isoformat(),
                "printed": run.printed,
                "reprinted": run.reprinted,
            },
        )
