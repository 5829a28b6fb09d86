"""What the format adapters (HL7, FHIR, CSV) hand to the import use case.

An adapter reads outside text and returns, per result, either an `Incoming` (still unvalidated:
patient, code, unit and value are checked by the import) or a `Problem` (the adapter could not
read it) or a `Skipped` (the lab says it is not a result, e.g. "cannot be done"). Every item
carries the raw text it came from, so a quarantined item can be retried as it was received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from monitor.domain.codes import Code
from monitor.store.models import ResultStatus


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


@dataclass(frozen=True)
class Problem:
    """Something an adapter could not read; it goes to the quarantine with this reason."""

    reason: str
    source: str
    format: str
    raw: str
    whole_message: bool = False


@dataclass(frozen=True)
class Skipped:
    """Not a result by the lab's own word (cannot be done, pending, cancelled); counted only."""

    reason: str


Parsed = Incoming | Problem | Skipped
