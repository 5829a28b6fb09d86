"""Positive patient identification: does what a lab message says about its patient fit the record?

A message is filed on the patient whose MRN it gives, but feeds reuse and mistype identifiers,
so the date of birth and the family name the message carries are compared with the record as
well (issue 10 item 1). Only what both sides hold is compared: a message that carries neither is
taken on its identifier alone, and a record without a date of birth cannot disagree with one.

The record keeps one `name` ("Ann Example", "Jean-Luc de la Tour", or "Tour, Jean-Luc"), so its
family name is derived: the part before a comma when there is one, else any run of whole words
that ends the name ("Tour", "la Tour", "de la Tour"), or the whole name when it is one word.
Names compare without case, accents, spaces, hyphens or other punctuation ("DE LA TOUR",
"Delatour", "de-la-Tour" and "de la Tour" are one name).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum

_PARTIAL_DATE = re.compile(r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?")

DOB_DIFFERS = "date of birth"
FAMILY_DIFFERS = "family name"
UNREADABLE_DOB = "identity not confirmed: the date of birth in the message is unreadable"


class IdentityCheck(StrEnum):
    """Config `[import] identity_check`: what is compared besides the MRN."""

    DOB_AND_FAMILY = "dob_and_family"
    DOB = "dob"
    OFF = "off"


def identity_mismatch(
    check: IdentityCheck,
    *,
    stated_born: str | None,
    stated_families: tuple[str, ...],
    born_on: date | None,
    name: str,
) -> str | None:
    """The quarantine reason when the message's patient is not the record's, else None.

    `stated_born` is the message's date of birth as ISO `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (a
    partial date compares at its own precision), or its text as sent when it is none of these.
    The reason never holds the values themselves: it ends up in logs and ACKs.
    """
    if check is IdentityCheck.OFF:
        return None
    differs = []
    if stated_born and born_on is not None:
        if not is_readable_birth(stated_born):
            return UNREADABLE_DOB
        if not born_on.isoformat().startswith(stated_born):
            differs.append(DOB_DIFFERS)
    if check is IdentityCheck.DOB_AND_FAMILY and not family_name_fits(stated_families, name):
        differs.append(FAMILY_DIFFERS)
    if not differs:
        return None
    verb = "differs" if len(differs) == 1 else "differ"
    return f"identity mismatch: {' and '.join(differs)} {verb}"


def is_readable_birth(text: str) -> bool:
    """An ISO date, year-month or year that exists on a calendar."""
    match = _PARTIAL_DATE.fullmatch(text)
    if match is None:
        return False
    try:
        date(int(match["y"]), int(match["m"] or 1), int(match["d"] or 1))
    except ValueError:
        return False
    return True


def family_name_fits(stated: tuple[str, ...], name: str) -> bool:
    """True when any family name the message gives is the record's (or it gives none)."""
    wanted = {folded for family in stated if (folded := fold_name(family))}
    return not wanted or bool(wanted & family_name_forms(name))


def family_name_forms(name: str) -> set[str]:
    """Every folded spelling of the record's family name (see the module's docstring)."""
    if "," in name:
        return {fold_name(name.split(",", 1)[0])} - {""}
    words = name.split()
    if len(words) <= 1:
        return {fold_name(name)} - {""}
    return {fold_name(" ".join(words[start:])) for start in range(1, len(words))} - {""}


def fold_name(text: str) -> str:
    """Lower case, accents dropped, only letters and digits kept: "Núñez-Ôde" is "nunezode"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))
