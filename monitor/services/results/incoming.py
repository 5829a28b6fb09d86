"""What the format adapters (HL7, FHIR, CSV) hand to the import use case.

An adapter reads outside text and returns, per result, either an `Incoming` (still unvalidated:
patient, code, unit and value are checked by the import) or a `Problem` (the adapter could not
read it) or a `Skipped` (the lab says it is not a result, e.g. "cannot be done"). Every item
carries the raw text it came from, so a quarantined item can be retried as it was received.
Items of one patient in one message share a `StatedPatient`: who the message says the patient
is, checked against the record before any of them is taken in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from monitor.domain.codes import Code
from monitor.domain.vocabulary import ResultStatus


@dataclass(frozen=True, eq=False)
class StatedPatient:
    """What one message says about its patient besides the MRN, shared by its items.

    `born` is the date of birth as ISO `YYYY[-MM[-DD]]`, or its text as sent when it reads as no
    date; `family_names` are as sent (HL7 PID-5.1 of every repetition, FHIR `Patient.name.family`,
    CSV `family_name`). `raw` is the whole message (for a FHIR file with several patients, this
    patient's part; for a CSV, the row): what the quarantine keeps when they disagree with the
    record. Compared by identity: one object per patient per message.
    """

    mrns: tuple[str, ...]
    born: str | None
    family_names: tuple[str, ...]
    source: str
    format: str
    raw: str


def stated_patient(
    mrns: tuple[str, ...],
    born: str,
    family_names: tuple[str, ...],
    where: tuple[str, str, str],
) -> StatedPatient | None:
    """A StatedPatient (`where` is source, format, raw), or None when the message carries
    neither a date of birth nor a family name: then the identifier alone files it."""
    families = tuple(name.strip() for name in family_names if name.strip())
    if not born.strip() and not families:
        return None
    source, fmt, raw = where
    return StatedPatient(mrns, born.strip() or None, families, source, fmt, raw)


@dataclass(frozen=True)
class Incoming:
    """One result as the lab sent it."""

    mrns: tuple[str, ...]
    codes: tuple[Code, ...]
    value: str
    unit: str | None
    collected_on: date | None
    collected_at: datetime | None
    status: ResultStatus
    source: str
    format: str
    raw: str
    accession: str | None = None
    ref_low: float | None = None
    ref_high: float | None = None
    lab_flag: str | None = None
    stated: StatedPatient | None = None


@dataclass(frozen=True)
class Problem:
    """Something an adapter could not read; it goes to the quarantine with this reason."""

    reason: str
    source: str
    format: str
    raw: str
    whole_message: bool = False
    stated: StatedPatient | None = None


@dataclass(frozen=True)
class Skipped:
    """Not a result by the lab's own word (cannot be done, pending, cancelled); counted only."""

    reason: str


Parsed = Incoming | Problem | Skipped
