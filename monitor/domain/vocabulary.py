"""The product's words for where things stand: patients, results, flags, emails, quarantine
items, reminder channels, contact outcomes and user roles.

They are the domain's vocabulary, not the database's: adapters, services and screens all speak
them, and `store.models` maps each to a column by its value. The severity of a flag and its
order live beside the rules (`domain.rules.Severity`).
"""

from __future__ import annotations

from enum import StrEnum


class PatientStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    DECEASED = "deceased"
    TRANSFERRED = "transferred"


# A patient in one of these has stopped monitoring from their status date (SPEC §9).
STOPPED_STATUSES = (PatientStatus.WITHDRAWN, PatientStatus.DECEASED, PatientStatus.TRANSFERRED)


class ResultStatus(StrEnum):
    """Where a result stands. Only `final` and `corrected` complete slots and feed the rules;
    `preliminary` is stored and shown; `replaced` (by a correction) and `entered-in-error` stay
    in the history only."""

    FINAL = "final"
    CORRECTED = "corrected"
    PRELIMINARY = "preliminary"
    REPLACED = "replaced"
    ENTERED_IN_ERROR = "entered-in-error"


COUNTING_STATUSES = (ResultStatus.FINAL, ResultStatus.CORRECTED)


class FlagStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SUPERSEDED = "superseded"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    # Sent whole, but the server's reply never came: it may have arrived. Never re-sent on its
    # own; a person checks the mail server's log and confirms or re-sends it.
    UNCONFIRMED = "unconfirmed"


class QuarantineStatus(StrEnum):
    OPEN = "open"
    RETRIED = "retried"
    DROPPED = "dropped"


class Channel(StrEnum):
    """How a patient is reminded (issue 14). A patient whose channel is `email` but who has no
    address falls back to a letter unless they opted out (docs/decisions.md)."""

    EMAIL = "email"
    LETTER = "letter"
    SMS = "sms"


class ContactOutcome(StrEnum):
    """What came of one attempt to reach a patient (the contact log). Only `reached` and
    `booked` count as a successful contact for escalation."""

    REACHED = "reached"
    NO_ANSWER = "no-answer"
    LEFT_MESSAGE = "left-message"
    BOOKED = "booked"
    LETTER_SENT = "letter-sent"


SUCCESSFUL_CONTACTS = (ContactOutcome.REACHED, ContactOutcome.BOOKED)


class UserRole(StrEnum):
    NURSE = "nurse"
    ADMIN = "admin"
