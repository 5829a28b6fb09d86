"""The product's words for where things stand: patients, results, flags, emails, quarantine
items and user roles.

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


class UserRole(StrEnum):
    NURSE = "nurse"
    ADMIN = "admin"
