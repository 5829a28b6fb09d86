"""The list of patients and finding one by MRN or name (`patient list`, the Patients page).

One query reads the few columns a line shows, filtered by site and stored status in SQL; the
search text is matched in Python, because "case- and accent-insensitive" means Unicode folding
(José, JOSE and jose are one name) that neither SQLite's `lower` nor a portable SQL spelling
gives. At 10,000 patients that is one indexed read of short rows and a pass over them in
memory (`bench/patient_search.py`). Each word of the search must appear in the MRN or the name,
so "ann exam" finds "Ann Example" and "Example, Ann".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.vocabulary import Channel, PatientStatus
from monitor.errors import InvalidInput
from monitor.store.models import Patient

SEARCH_LENGTH = 200


@dataclass(frozen=True)
class PatientLine:
    """One patient as the list shows them (staff only: phone and email are contact details)."""

    mrn: str
    name: str
    born_on: date | None
    sex: str | None
    site: str
    status: PatientStatus
    email: str | None
    phone: str | None
    channel: Channel


COLUMNS = (
    Patient.mrn,
    Patient.name,
    Patient.born_on,
    Patient.sex,
    Patient.site,
    Patient.status,
    Patient.email,
    Patient.phone,
    Patient.channel,
)


def folded(text: str) -> str:
    """`text` without case or accents, for matching what a person types against a record."""
    if text.isascii():
        return text.lower()  # the same answer, without the Unicode tables (most names)
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def patient_status(value: str) -> PatientStatus:
    """A stored status by its name; InvalidInput naming the allowed ones otherwise."""
    try:
        return PatientStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in PatientStatus)
        raise InvalidInput(f"unknown status {value[:40]!r}; use one of {allowed}") from None


def patient_list(
    session: Session,
    *,
    site: str | None = None,
    status: PatientStatus | None = None,
    search: str | None = None,
) -> list[PatientLine]:
    """The patients matching every filter given, by name then MRN."""
    query = select(*COLUMNS).order_by(Patient.name, Patient.mrn)
    if site is not None:
        query = query.where(Patient.site == site)
    if status is not None:
        query = query.where(Patient.status == status)
    words = folded(search[:SEARCH_LENGTH]).split() if search else []
    return [
        PatientLine(*row)
        for row in session.execute(query)
        if not words or _matches(row[0], row[1], words)
    ]


def _matches(mrn: str, name: str, words: list[str]) -> bool:
    haystack = folded(f"{mrn} {name}")
    return all(word in haystack for word in words)
