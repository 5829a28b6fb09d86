"""What one rule check can look at, and the shared look-ups (SPEC §4, §9).

Definitions used by every rule:

- "Previous result": the latest result of the same analyte collected strictly before the
  subject's date. Several on that date: the last one in `others` order wins.
- "Pre-treatment baseline": the latest result of the analyte collected on or before course 1's
  first infusion. Baseline rules only judge results collected after that infusion: a result on or
  before it is itself a baseline candidate, so comparing it to another pre-treatment value says
  nothing about the drug.
- "Same draw": collected on the same date.
- Comparisons allow a relative tolerance of 1e-9 so that unit conversion noise (150000 /uL is
  150.00000000000003 x10^9/L) never moves a value across a threshold it sits exactly on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.domain.units import ORDINAL_SCALES

from .model import PatientContext, ResultFact
from .settings import RuleSettings

_TOLERANCE = 1e-9


def _slack(cut: float) -> float:
    return _TOLERANCE * max(1.0, abs(cut)) if math.isfinite(cut) else 0.0


def below(value: float, cut: float) -> bool:
    """value < cut, with 150 not below 150 even after a lossy unit conversion."""
    return value < cut - _slack(cut)


def above(value: float, cut: float) -> bool:
    """value > cut (strict), tolerant of conversion noise."""
    return value > cut + _slack(cut)


def at_least(value: float, cut: float) -> bool:
    """value >= cut, tolerant of conversion noise (for SPEC's "or more" and ">=")."""
    return value >= cut - _slack(cut)


def fmt(value: float) -> str:
    """A value for a nurse to read: at most three decimals, no trailing zeros."""
    return f"{round(value, 3):g}" if math.isfinite(value) else str(value)


def ordinal_rank(fact: ResultFact) -> int:
    """Position on the analyte's ordinal scale (0 = negative/normal); -1 if not on the scale."""
    scale = ORDINAL_SCALES.get(fact.analyte, ())
    return scale.index(fact.ordinal) if fact.ordinal in scale else -1


def normal_sex(sex: str | None) -> str:
    """'F' or 'M' as given; anything else (None, 'X', unknown) is 'X'."""
    upper = (sex or "X").strip().upper()
    return upper if upper in ("F", "M") else "X"


@dataclass(frozen=True)
class Context:
    """One result under judgement (`subject`) and every other result of the same patient."""

    subject: ResultFact
    others: Sequence[ResultFact]
    patient: PatientContext
    settings: RuleSettings

    @property
    def value(self) -> float | None:
        return self.subject.canonical_value

    def previous(self) -> ResultFact | None:
        """The latest same-analyte result with a value, collected before the subject's date."""
        return _latest(
            r
            for r in self._same_analyte()
            if r.collected_on < self.subject.collected_on and r.canonical_value is not None
        )

    def baseline(self) -> ResultFact | None:
        """The pre-treatment baseline, or None (no course, no such result, or subject is one)."""
        start = self.first_infusion()
        if start is None or self.subject.collected_on <= start:
            return None
        return _latest(
            r
            for r in self._same_analyte()
            if r.collected_on <= start and r.canonical_value is not None
        )

    def first_infusion(self) -> date | None:
        courses = self.patient.courses
        return min((c.first_on for c in courses), default=None)

    def same_day(self, *analytes: str) -> list[ResultFact]:
        """Other results of `analytes` collected on the subject's date."""
        day = self.subject.collected_on
        return [r for r in self.others if r.analyte in analytes and r.collected_on == day]

    def dip_course(self) -> int | None:
        """Number of the course whose expected platelet dip covers the subject's date, if any.

        The dip window runs from the course's first infusion to `dip_days_after_course` days
        after its last one, that last day included (SPEC §9).
        """
        day = self.subject.collected_on
        extra = timedelta(days=self.settings.platelets.dip_days_after_course)
        ordered = sorted(self.patient.courses, key=lambda c: c.first_on)
        for number, course in enumerate(ordered, start=1):
            if course.first_on <= day <= course.last_on + extra:
                return number
        return None

    def pregnant(self) -> bool:
        """True if the subject was collected inside a recorded pregnancy (ends inclusive)."""
        day = self.subject.collected_on
        return any(
            start <= day and (end is None or day <= end) for start, end in self.patient.pregnancies
        )

    def sex(self) -> str:
        return normal_sex(self.patient.sex)

    def _same_analyte(self) -> list[ResultFact]:
        return [r for r in self.others if r.analyte == self.subject.analyte]


def _latest(results: Iterable[ResultFact]) -> ResultFact | None:
    """The latest by collection date; on a tie, the last one given."""
    best: ResultFact | None = None
    for result in results:
        if best is None or result.collected_on >= best.collected_on:
            best = result
    return best
