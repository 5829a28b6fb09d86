"""Text-message reminders: their 160-character text (pure) and what a sender of them is.

The text comes from `templates/sms/<message>.txt` with its own context
(`notify.messages.patient_sms_context`): the tests in plain words, the first due-by date, the
clinic's name and phone. No name at all: an SMS is read on a lock screen, by whoever holds the phone
(docs/decisions.md, "Reminder channels"). When the tests' words make it too long, "your tests"
stands in for them; `config.SMS_NAME_AND_PHONE` keeps even that shortest wording within 160.

They are sent through GOV.UK Notify by `notify.gov_notify`, imported only by the commands that
send (its client pulls in `requests`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.notify.registry import Audience, registered
from monitor.notify.render import environment

SMS_LIMIT = 160
SHORT_WHAT = "your tests"


def render_sms(message: str, context: Mapping[str, Any]) -> str:
    """The one-line text of a patient reminder for its SMS context (`Draft.sms_context`,
    `notify.messages.patient_sms_context`), at most `SMS_LIMIT` characters.

    ValueError for a staff message or a text that cannot fit (the configuration check
    `config.SMS_NAME_AND_PHONE` prevents that for real clinic names).
    """
    if registered(message).audience is not Audience.PATIENT:
        raise ValueError(f"{message}: only patient reminders go by SMS")
    template = environment().get_template(f"sms/{message}.txt")
    shortest = {"what": SHORT_WHAT, "it_or_them": "them"}
    for words in ({}, shortest):
        text = " ".join(template.render({**context, **words}).split())
        if len(text) <= SMS_LIMIT:
            return text
    raise ValueError(f"{message}: the SMS text is {len(text)} characters, over {SMS_LIMIT}")


def new_sms_reference() -> str:
    """A random part of the reference Notify keeps for one outbox row (`notify_reference`)."""
    return f"sms-{uuid.uuid4().hex}"


def notify_reference(row_id: int, token: str) -> str:
    """Notify's `reference` for an outbox row: its id, and its own random token so that a row
    of another database (a test copy, a restore) with the same id is never taken for it."""
    return f"outbox-{row_id}-{token}"


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str
    reference: str  # the same on every attempt (`notify_reference`)


class SmsTransport(Protocol):
    def send_sms(self, sms: Sms) -> None: ...
