"""The values the rules engine reads and writes (SPEC §4, §9 "Results and flags").

The engine sees results as plain facts already converted to canonical units, so it never needs to
know how a value arrived (CLI, HL7, FHIR) or in which unit; the caller keeps the originals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from monitor.domain.courses import Course

_RANKS = {"review": 1, "urgent": 2, "emergency": 3}


class Severity(StrEnum):
    """How fast a nurse must act. Compare with `.rank`: string order is not clinical order."""

    REVIEW = "review"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """1 for review, 2 for urgent, 3 for emergency."""
        return _RANKS[self.value]


def highest(severities: Iterable[Severity]) -> Severity | None:
    """The most serious of `severities`, or None when there are none."""
    return max(severities, key=lambda s: s.rank, default=None)


@dataclass(frozen=True)
class ResultFact:
    """One stored result as the rules need it.

    `key` is the caller's id for the result, passed back in findings untouched. Numeric analytes
    carry `canonical_value`; ordinal ones carry `ordinal` (a word of units.ORDINAL_SCALES). The
    lab's range, when sent, is already in the canonical unit; either bound may be missing.
    """

    key: int | str
    analyte: str
    collected_on: date
    canonical_value: float | None
    ordinal: str | None
    ref_low: float | None = None
    ref_high: float | None = None
    is_menstruating: bool = False


@dataclass(frozen=True)
class PatientContext:
    """What the rules need to know about the patient, and nothing more (no name, no MRN).

    `sex` is 'F', 'M' or 'X'; None or anything else counts as 'X' (the widest default range).
    `courses` are in date order. `pregnancies` are inclusive periods; an end of None is ongoing.
    """

    sex: str | None
    courses: Sequence[Course]
    pregnancies: Sequence[tuple[date, date | None]] = ()


@dataclass(frozen=True)
class Finding:
    """One rule that fired, for one result: stored by the caller as a flag.

    `result_key` is usually the new result's key; for a combined rule re-checked because a
    same-day partner arrived later, it is the key of the result the rule belongs to (the
    creatinine, or the ALT/AST). `message` is for nurses: plain words, values and thresholds in
    canonical units, never a patient's name. `repeat_within_days` is set by the rules that ask
    for a repeat (`rules.repeats`).
    """

    result_key: int | str
    rule: str
    severity: Severity
    message: str
    # Days after the sample by which the analyte's panel should be measured again (None: no
    # repeat asked; `[rules.<analyte>] repeat_within_days`).
    repeat_within_days: int | None = None

    def repeat_due_on(self, collected_on: date) -> date | None:
        """The day the repeat is due by, for a sample collected on `collected_on` (None: the
        finding asks for no repeat)."""
        days = self.repeat_within_days
        return collected_on + timedelta(days=days) if days else None


def asking_repeat(finding: Finding, days: int) -> Finding:
    """The finding asking for its panel again within `days` of the sample (0: asking nothing).
    Issue 14's product defaults; sources in docs/decisions.md, "Results that ask for a repeat"."""
    return replace(finding, repeat_within_days=days or None)
