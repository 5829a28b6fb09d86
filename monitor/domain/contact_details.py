"""A patient's phone number and postal address as staff type them: the one check for each.

A phone number is kept as the clinic writes it (spaces, brackets, a leading `+`), because a
nurse reads it aloud and dials it; only its shape is checked: digits, spaces, `+` (first only),
`-` and `()`, with 7 to 20 digits in all (the shortest UK local number has 7, E.164 allows 15
and an extension a few more) and at most 40 characters (the column). A postal address is lines
for an envelope: at most 8 non-empty lines of at most 100 characters each, no control
characters; Windows line ends become `\n`.
"""

from __future__ import annotations

import re

from monitor.domain.fields import line_problem
from monitor.errors import Field, FieldError

PHONE_LENGTH = 40
PHONE_DIGITS = (7, 20)
_PHONE = re.compile(r"\+?[0-9 ()\-]+")
ADDRESS_LINES = 8
ADDRESS_LINE_LENGTH = 100


def checked_phone(value: str, field: Field | str) -> str:
    """`value` stripped, or a FieldError naming `field` and what is wrong with it."""
    stripped = value.strip()
    problem = line_problem(stripped, PHONE_LENGTH)
    if problem is None and not _PHONE.fullmatch(stripped):
        problem = "may hold only digits, spaces, -, ( ) and a leading +"
    digits = sum(c.isdigit() for c in stripped)
    low, high = PHONE_DIGITS
    if problem is None and not low <= digits <= high:
        problem = f"must have {low} to {high} digits (it has {digits})"
    if problem is not None:
        raise FieldError(field, f" {problem}")
    return stripped


def checked_postal_address(value: str, field: Field | str) -> str:
    """The address's lines, stripped, blank lines dropped, joined by `\n`; or a FieldError."""
    lines = [line.strip() for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise FieldError(field, " must not be empty")
    if len(lines) > ADDRESS_LINES:
        raise FieldError(field, f" must have at most {ADDRESS_LINES} lines (it has {len(lines)})")
    for number, line in enumerate(lines, start=1):
        problem = line_problem(line, ADDRESS_LINE_LENGTH)
        if problem is not None:
            raise FieldError(field, f" line {number} {problem}")
    return "\n".join(lines)
