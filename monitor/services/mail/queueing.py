"""Render and queue a registered message, or record why it is not sent: the one way into the outbox.

The daily cycle's reminders, the digest and the urgent-flag alert all come through
`queue_message`, so each is keyed by its registered dedupe key shape (`notify.registry`), carries
its calendar when it has one, and leaves a `skipped` row with the reason when it is not sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import overload

from sqlalchemy.orm import Session

from monitor.domain.vocabulary import Channel
from monitor.notify.letters import LETTER_SUBJECT, render_letter
from monitor.notify.registry import Draft, Message
from monitor.notify.render import render_email
from monitor.notify.sms import new_sms_reference, render_sms
from monitor.services.mail.outbox import (
    Queued,
    queue_email,
    queue_other_channel,
    record_skipped,
)


@dataclass(frozen=True)
class Envelope:
    """Who a message goes to, by which channel, and what its outbox row is filed under."""

    recipient: str  # one address, or the staff list joined with ", "; "" when there is none
    patient_id: int | None = None
    site: str | None = None
    run_on: date | None = None  # the daily cycle that decided it
    # A patient reminder may go as a letter (recipient: the postal address) or an SMS (a phone
    # number); the same dedupe key either way, so one cycle reminds a patient once.
    channel: Channel = Channel.EMAIL

    def key_parts(self, extra: Mapping[str, object]) -> dict[str, object]:
        parts = {"patient_id": self.patient_id, "site": self.site, "run_on": self.run_on}
        return {**parts, **extra}


@overload
def queue_message(
    session: Session,
    message: Draft,
    *,
    to: Envelope,
    now: datetime,
    mail_domain: str,
    skip: str | None = None,
    tag: str | None = None,
    key: Mapping[str, object] | None = None,
) -> Queued | None: ...


@overload
def queue_message(
    session: Session,
    message: Message[...],
    *,
    to: Envelope,
    now: datetime,
    skip: str,
    tag: str | None = None,
    key: Mapping[str, object] | None = None,
) -> Queued | None: ...


def queue_message(
    session: Session,
    message: Draft | Message[...],
    *,
    to: Envelope,
    now: datetime,
    mail_domain: str | None = None,
    skip: str | None = None,
    tag: str | None = None,
    key: Mapping[str, object] | None = None,
) -> Queued | None:
    """Queue `message` for `to`, or record it as skipped for the reason `skip`.

    Its dedupe key takes the registered parts from `to` and `key` (for example the flag id), so
    a decision made twice queues one row; None when that key was already there. A skip stands in
    for the message under the same key, unless a `tag` files it beside the message (a later
    cycle for the same day may still send the real one). A bare `Message` can only be skipped:
    there are no values to build it from.
    """
    entry = message.message if isinstance(message, Draft) else message
    dedupe_key = entry.dedupe_key(to.key_parts(key or {}), tag)
    if skip is not None:
        return _record_skip(session, entry.name, to, skip, dedupe_key, now)
    if not isinstance(message, Draft) or mail_domain is None:
        raise TypeError(f"{entry.name}: only a draft with a mail domain can be queued")
    return _queue_draft(session, message, to, dedupe_key, now, mail_domain)


def _queue_draft(
    session: Session,
    draft: Draft,
    to: Envelope,
    dedupe_key: str,
    now: datetime,
    mail_domain: str,
) -> Queued | None:
    name = draft.message.name
    if to.channel is not Channel.EMAIL:
        return _queue_other(session, draft, to, dedupe_key, now)
    rendered = render_email(name, draft.context())
    return queue_email(
        session,
        message=name,
        recipient=to.recipient,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        calendar=draft.calendar(to.run_on, now),
        dedupe_key=dedupe_key,
        now=now,
        mail_domain=mail_domain,
        patient_id=to.patient_id,
        site=to.site,
        run_on=to.run_on,
    )


def _queue_other(
    session: Session, draft: Draft, to: Envelope, dedupe_key: str, now: datetime
) -> Queued | None:
    """A letter, rendered now and dated by its cycle; or an SMS, its text and reference."""
    name = draft.message.name
    if to.channel is Channel.LETTER:
        if to.run_on is None:
            raise ValueError(f"{name}: a letter is dated by the cycle that decided it")
        html = render_letter(name, draft.context(), on=to.run_on)
        subject, text, message_id = LETTER_SUBJECT, "", ""
    else:
        subject, text, html = "", render_sms(name, draft.sms_context()), None
        message_id = new_sms_reference()
    return queue_other_channel(
        session,
        channel=to.channel,
        message=name,
        recipient=to.recipient,
        subject=subject,
        body_text=text,
        body_html=html,
        message_id=message_id,
        dedupe_key=dedupe_key,
        now=now,
        patient_id=to.patient_id,
        site=to.site,
        run_on=to.run_on,
    )


def _record_skip(
    session: Session, name: str, to: Envelope, reason: str, dedupe_key: str, now: datetime
) -> Queued | None:
    return record_skipped(
        session,
        message=name,
        recipient=to.recipient,
        reason=reason,
        dedupe_key=dedupe_key,
        now=now,
        patient_id=to.patient_id,
        site=to.site,
        run_on=to.run_on,
        channel=to.channel,
    )
