"""The flag lists as the screens read them: one row per flagged result, with its patient.

The nurse reviews a result, not a rule (docs/decisions.md, "One row per flagged result"): a
result that fired several rules is one `ResultFlags` row holding every flag, most severe first,
and rows sort by their most severe, then newest, flag. `monitor flags`, the Flags page, the
patient record and the open alerts (`services.results.alerts`) all read through
`flagged_results`, so they cannot group or order differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.orm import Session

from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus
from monitor.services.listing import where_equal
from monitor.services.results.history import ResultView, result_view
from monitor.store.models import Flag, Patient, Result
from monitor.store.queries import severity_rank


@dataclass(frozen=True)
class FlagView:
    """One stored flag with the result it is about."""

    id: int
    patient_id: int
    result_id: int
    rule: str
    severity: Severity
    message: str
    status: FlagStatus
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_note: str | None
    result: ResultView
    repeat_due_on: date | None = None  # the repeat the flag asks for (None: none)


def flag_view(row: Flag, result: Result) -> FlagView:
    """The flag `row` about `result` (its `result_id`'s row) as plain data."""
    return FlagView(
        id=row.id,
        patient_id=row.patient_id,
        result_id=row.result_id,
        rule=row.rule,
        severity=row.severity,
        message=row.message,
        status=row.status,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        acknowledged_note=row.acknowledged_note,
        result=result_view(result),
        repeat_due_on=row.repeat_due_on,
    )


@dataclass(frozen=True)
class ResultFlags:
    """One abnormal result as a nurse sees it: every flag its rules raised, most severe first.

    One result can fire several rules (creatinine 213 umol/L: an urgent rise and a review for
    being above range), and the nurse reviews the result, not each rule: the lists show one row
    per result and acknowledging the row acknowledges every open flag in it.
    """

    flags: tuple[FlagView, ...]

    @property
    def lead(self) -> FlagView:
        """The most severe (then newest) flag: its id names the row."""
        return self.flags[0]

    @property
    def result(self) -> ResultView:
        return self.lead.result

    @property
    def severity(self) -> Severity:
        return self.lead.severity

    @property
    def is_open(self) -> bool:
        return any(flag.status is FlagStatus.OPEN for flag in self.flags)

    @property
    def rules(self) -> list[str]:
        return [flag.rule for flag in self.flags]


def group_by_result(flags: Iterable[FlagView]) -> list[ResultFlags]:
    """Flags gathered per result; rows ordered by their most severe, then newest, flag."""
    by_result: dict[int, list[FlagView]] = {}
    for flag in flags:
        by_result.setdefault(flag.result_id, []).append(flag)
    groups = [ResultFlags(tuple(sorted(group, key=worst_first))) for group in by_result.values()]
    return sorted(groups, key=lambda group: worst_first(group.lead))


def worst_first(flag: FlagView) -> tuple[int, int]:
    """The order of flags everywhere: most severe, then newest."""
    return (-flag.severity.rank, -flag.id)


@dataclass(frozen=True)
class FlaggedResult:
    """A flagged result with the patient it belongs to."""

    group: ResultFlags
    patient_id: int
    mrn: str
    name: str
    site: str


def flagged_results(
    session: Session,
    *criteria: ColumnElement[bool],
    site: str | None = None,
    limit: int | None = None,
) -> list[FlaggedResult]:
    """The flags matching `criteria` (of one site's patients), one row per result.

    `limit` caps the flags read (most severe and newest kept), not the rows.
    """
    people: dict[int, tuple[int, str, str, str]] = {}
    flags = []
    for flag, result, pid, mrn, name, row_site in _flag_rows(session, criteria, site, limit):
        people[flag.result_id] = (pid, mrn, name, row_site)
        flags.append(flag_view(flag, result))
    return [FlaggedResult(group, *people[group.result.id]) for group in group_by_result(flags)]


def _flag_rows(
    session: Session, criteria: Sequence[ColumnElement[bool]], site: str | None, limit: int | None
) -> Sequence[Row[Flag, Result, int, str, str, str]]:
    query = (
        select(Flag, Result, Patient.id, Patient.mrn, Patient.name, Patient.site)
        .join(Result, Result.id == Flag.result_id)
        .join(Patient, Patient.id == Flag.patient_id)
        .where(*criteria)
        .order_by(severity_rank(Flag.severity).desc(), Flag.id.desc())
    )
    return session.execute(where_equal(query, Patient.site, site).limit(limit)).all()


@dataclass(frozen=True)
class FlagFilter:
    """The flag lists' filters (None: any). `status` picks flags; `severity` picks rows by
    their most severe flag, so a result with an urgent and a review flag is never a review."""

    status: str | None = None
    severity: str | None = None
    site: str | None = None


def flag_list(session: Session, wanted: FlagFilter, *, limit: int | None) -> list[FlaggedResult]:
    """Flagged results with their patients, most severe then newest first."""
    status = [] if wanted.status is None else [Flag.status == wanted.status]
    rows = flagged_results(session, *status, site=wanted.site, limit=limit)
    return [row for row in rows if wanted.severity is None or row.group.severity == wanted.severity]


def patient_flags(session: Session, patient_id: int) -> tuple[list[ResultFlags], list[ResultFlags]]:
    """The patient's flagged results: those with an open flag (holding only the open flags),
    then the closed ones."""
    rows = _flag_rows(session, [Flag.patient_id == patient_id], None, None)
    flags = [flag_view(flag, result) for flag, result, *_ in rows]
    opened = group_by_result(flag for flag in flags if flag.status is FlagStatus.OPEN)
    closed = group_by_result(flag for flag in flags if flag.status is not FlagStatus.OPEN)
    return opened, closed
