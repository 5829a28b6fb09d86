"""What a typed-in text field may hold: the one rule for names, MRNs, sites and notes.

Short fields (an MRN, a site, a clinic name, a user name) end up in email headers, CSV cells,
URLs and table rows, so they are one line without control characters: a line break in a clinic
name would inject a header into every email (or make every email fail to render). Notes and
reasons may span lines but hold no other control characters: PostgreSQL refuses NUL, and a
terminal obeys escape sequences. Every field has a length limit, the column's where there is one.
"""

from __future__ import annotations

import unicodedata

from monitor.errors import Field, FieldError

# The widths of the columns these fields are kept in (monitor/store/models.py).
MRN_LENGTH = 64
SITE_LENGTH = 64
SOURCE_LENGTH = 64
PANEL_LENGTH = 32
NAME_LENGTH = 200
PERSON_LENGTH = 200  # who acknowledged, waived or changed something
NOTE_LENGTH = 2000
_ALLOWED_IN_NOTES = frozenset("\n\t")


def line_problem(value: str, max_length: int) -> str | None:
    """Why `value` is not a non-empty single line of at most `max_length` characters, or None."""
    if not value.strip():
        return "must not be empty"
    if len(value) > max_length:
        return f"must have at most {max_length} characters (it has {len(value)})"
    if any(c in value for c in "\r\n\u2028\u2029\x85"):
        return "must be one line (it contains a line break)"
    if _has_control(value, allowed=frozenset()):
        return "must not contain control characters"
    return None


def note_problem(value: str, max_length: int = NOTE_LENGTH) -> str | None:
    """Why free text (a reason, a note) cannot be stored, or None; line breaks are fine."""
    if len(value) > max_length:
        return f"must have at most {max_length} characters (it has {len(value)})"
    if _has_control(value, allowed=_ALLOWED_IN_NOTES):
        return "must not contain control characters"
    return None


def checked_line(value: str, field: Field | str, max_length: int) -> str:
    """`value` stripped, or a FieldError naming `field` and the problem: services pass a
    `Field` (each front end words it); a front end checking its own option passes its label."""
    stripped = value.strip()
    problem = line_problem(stripped, max_length)
    if problem is not None:
        raise FieldError(field, f" {problem}")
    return stripped


def checked_note(value: str, field: Field | str, max_length: int = NOTE_LENGTH) -> str:
    problem = note_problem(value, max_length)
    if problem is not None:
        raise FieldError(field, f" {problem}")
    return value


def _has_control(value: str, allowed: frozenset[str]) -> bool:
    """Control (Cc), format-breaking separators (Zl, Zp) and lone surrogates (Cs)."""
    return any(
        c not in allowed and unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value
    )


def required_note(value: str, field: Field | str, max_length: int = NOTE_LENGTH) -> str:
    """A note that must say something (a correction's reason), stripped; else a FieldError."""
    text = checked_note(value, field, max_length).strip()
    if not text:
        raise FieldError(field, " must not be empty")
    return text
