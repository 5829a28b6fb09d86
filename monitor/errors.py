"""Errors that every layer understands.

`InvalidInput` is the user's mistake (exit code 2, nothing written); anything else is ours
(exit code 1). The message always names the field or value at fault, never a patient's
name or result value in a log line (the CLI prints it to the user who typed it).

Services name a field in the product's words (`Field`); each front end says it in its own
(the CLI its option, a page its form's label) through `InvalidInput.worded` and a mapping of its
own, so a service never needs to know that a reason is typed as `--reason` or in a form.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class MonitorError(Exception):
    """Base class for errors the program reports to its user."""


class Field(StrEnum):
    """A field a service may refuse, by its name in the product (the default wording)."""

    MRN = "MRN"
    NAME = "name"
    SITE = "site"
    EMAIL = "email address"
    SEX = "sex"
    BORN_ON = "date of birth"
    REASON = "reason"
    NOTE = "note"
    ACKNOWLEDGED_BY = "the acknowledgement"
    WAIVED_BY = "who waived it"
    PANEL = "panel"
    REF_LOW = "reference range low end"
    REF_HIGH = "reference range high end"
    PREGNANCY_START = "pregnancy start"
    PREGNANCY_END = "pregnancy end"
    ROLE = "role"
    OUTCOME = "outcome"
    CONTACT_BY = "who made the contact"
    BOOKED_ON = "booked date"
    PHONE = "phone number"
    ADDRESS = "postal address"
    CHANNEL = "reminder channel"


class InvalidInput(MonitorError):
    """Input that breaks a rule; the operation is refused and nothing is written."""

    def worded(self, names: Mapping[Field, str]) -> str:
        """The message with each field called by its name in `names` (a front end's)."""
        return str(self)


class FieldError(InvalidInput):
    """InvalidInput whose message names fields: `parts` is text with `Field`s in it, e.g.
    `FieldError(Field.REASON, " must not be empty")`. Plain strings are kept as they are (a
    front end checking its own option passes its own label)."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts
        super().__init__(self.worded({}))

    def worded(self, names: Mapping[Field, str]) -> str:
        return "".join(
            names.get(part, part.value) if isinstance(part, Field) else part for part in self.parts
        )


class NotFound(InvalidInput):
    """An MRN, flag id or slot that does not exist (SPEC §9: exit 2)."""
