"""Taking in lab results from a feed: one use case for HL7, FHIR and CSV alike.

Each item is stored inside its own SAVEPOINT, so one bad item goes to the quarantine (with its raw
text and a plain reason) and the rest of the file or message still goes in. Imported results
re-match slots, run the rules and alert staff exactly like typed ones, but once per patient per
import (`finish_patients`, and the unit of work's rebuild at commit), after every item is in:
re-matching and the rules read the patient's whole history, so doing them per item made a file of n
results for one patient cost n² (issue 11 item 10). Corrections and withdrawals, which are rare, are
still judged at once, as their audit entries name the rules that still fire. How repeats,
corrections and withdrawals are told apart is in `services.results.repeats`; what a correction or a
withdrawal changes is in `services.results.corrections`. Before any result of a message is taken in,
the patient the message describes (date of birth, family name) is checked against the record its MRN
names (`services.results.identification`): on a mismatch the message goes to the quarantine whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.codes import mapping_line
from monitor.domain.vocabulary import ResultStatus
from monitor.errors import InvalidInput
from monitor.services.mail.digest import queue_flag_alerts
from monitor.services.results.corrections import replace_result, withdraw_result
from monitor.services.results.flags import raise_flags_for
from monitor.services.results.identification import (
    PatientDirectory,
    confirm_identities,
    resolve_patient,
)
from monitor.services.results.incoming import Incoming, Parsed, Problem, Skipped
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn, store_result
from monitor.services.results.repeats import KnownResults, current_result, is_repeat
from monitor.store.models import Patient, QuarantineItem, Result


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"


@dataclass
class ImportReport:
    """What one import did; `problems` are the quarantine reasons, in order."""

    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    quarantine_ids: list[int] = field(default_factory=list)
    rejected: bool = False
    held: list[Problem] = field(default_factory=list)  # not quarantined (a retry decides)

    def add(self, other: ImportReport) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.skipped += other.skipped
        self.problems += other.problems
        self.quarantine_ids += other.quarantine_ids
        self.held += other.held
        self.rejected = self.rejected or other.rejected

    def count(self, outcome: Outcome) -> None:
        if outcome is Outcome.STORED:
            self.stored += 1
        elif outcome is Outcome.DUPLICATE:
            self.duplicates += 1
        else:
            self.skipped += 1


@dataclass(frozen=True)
class ImportContext:
    """What every item needs: the configuration, the clinic's today, the instant, and the
    patient to assume for items that name none (`monitor import --patient`)."""

    config: Config
    today: date
    now: datetime
    fallback_mrn: str | None = None


@dataclass
class NewResults:
    """The results an import stored, by patient, waiting for `finish_patients`."""

    patients: dict[int, Patient] = field(default_factory=dict)
    results: dict[int, list[Result]] = field(default_factory=dict)
    by_identifiers: dict[tuple[str, ...], Patient] = field(default_factory=dict)

    def add(self, patient: Patient, result: Result) -> None:
        self.patients.setdefault(patient.id, patient)
        self.results.setdefault(patient.id, []).append(result)


FILE_CHUNK_ITEMS = 800  # items per commit of a file: about 200 lab messages of 4 results


def file_chunks(items: Sequence[Parsed], size: int | None = None) -> Iterator[list[Parsed]]:
    """A file's items in runs of about `size`, each committed on its own (`monitor import`), so a
    long file neither holds SQLite's write lock for minutes nor is lost whole by a fault near its
    end. A run is cut only where the patient changes: one patient's items of one message are
    checked against the record (`confirm_identities`) and judged by the rules together."""
    size = size or FILE_CHUNK_ITEMS
    chunk: list[Parsed] = []
    for item in items:
        if len(chunk) >= size and _patient_key(item) != _patient_key(chunk[-1]):
            yield chunk
            chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def _patient_key(item: Parsed) -> object:
    stated = getattr(item, "stated", None)
    return stated if stated is not None else getattr(item, "mrns", None)


def import_items(
    session: Session, items: Iterable[Parsed], context: ImportContext, *, quarantine: bool = True
) -> ImportReport:
    """Take every parsed item in; problems are quarantined (or held in the report, for a retry
    to decide). The items are taken in together (`_import_together`); should the database
    refuse one of their rows when they are written, they are taken in again one by one, each
    in its own savepoint, so only that item is refused."""
    items = list(items)
    try:
        with session.begin_nested():
            return _import_together(session, items, context, quarantine=quarantine)
    except _Refused:
        return _import_one_by_one(session, items, context, quarantine=quarantine)


def _import_together(
    session: Session, items: list[Parsed], context: ImportContext, *, quarantine: bool
) -> ImportReport:
    """The items' patients and the stored results they may repeat are read up front
    (`ChunkLookups`), each item is judged from memory, and the new results are written
    together: a few queries for the whole chunk instead of several an item (issue 15). The
    answers, rows, quarantine and report are those of `_import_one_by_one`."""
    report = ImportReport()
    new = NewResults()
    lookups = ChunkLookups(session, items, context)
    checked = context.config.import_.identity_check
    problems: list[Problem] = []
    for item in confirm_identities(
        session, items, checked, _fallback(context), lookups.patients.resolve
    ):
        if isinstance(item, Skipped):
            report.skipped += 1
            continue
        outcome = (
            item if isinstance(item, Problem) else _take_known(session, item, context, new, lookups)
        )
        if isinstance(outcome, Outcome):
            report.count(outcome)
        else:
            problems.append(outcome)
    _flush(session)
    for problem in problems:
        _report_problem(session, report, problem, context, quarantine=quarantine)
    finish_patients(session, new, context)
    return report


def _import_one_by_one(
    session: Session, items: list[Parsed], context: ImportContext, *, quarantine: bool
) -> ImportReport:
    """Each item in its own savepoint, reading what it needs as it goes."""
    report = ImportReport()
    new = NewResults()
    checked = context.config.import_.identity_check
    for item in confirm_identities(session, items, checked, _fallback(context)):
        if isinstance(item, Skipped):
            report.skipped += 1
            continue
        outcome = (
            item if isinstance(item, Problem) else _take_in_savepoint(session, item, context, new)
        )
        if isinstance(outcome, Outcome):
            report.count(outcome)
        else:
            _report_problem(session, report, outcome, context, quarantine=quarantine)
    finish_patients(session, new, context)
    return report


def _report_problem(
    session: Session,
    report: ImportReport,
    problem: Problem,
    context: ImportContext,
    *,
    quarantine: bool,
) -> None:
    report.problems.append(problem.reason)
    report.rejected = report.rejected or problem.whole_message
    report.quarantined += 1
    if quarantine:
        report.quarantine_ids.append(quarantine_problem(session, problem, context.now))
    else:
        report.held.append(problem)


class _Refused(Exception):
    """The database (or a column type on the way to it) refused a row written with others."""


def _flush(session: Session) -> None:
    try:
        session.flush()
    except (InvalidInput, ValueError, ArithmeticError) as error:
        raise _Refused from error


class ChunkLookups:
    """What `_take_known` reads for a chunk: its patients (`PatientDirectory`) and the stored
    results its items may repeat (`KnownResults`), each in a few queries."""

    def __init__(self, session: Session, items: Sequence[Parsed], context: ImportContext):
        fallback = _fallback(context)
        incoming = [item for item in items if isinstance(item, Incoming)]
        stated = [item.stated for item in items if not isinstance(item, Skipped) and item.stated]
        mrn_sets = [item.mrns or fallback for item in incoming]
        mrn_sets += [who.mrns or fallback for who in stated]
        self.patients = PatientDirectory(session, mrn_sets)
        ids = {patient.id for patient in self.patients.by_mrn.values()}
        self.known = KnownResults(session, ids, _days(incoming, context.config.clinic.timezone))


def _days(items: Iterable[Incoming], timezone: str) -> set[date]:
    """The collection days of the items that have a readable one."""
    days = set()
    for item in items:
        try:
            days.add(_collected_on(item, timezone))
        except InvalidInput:
            continue
    return days


def finish_patients(session: Session, new: NewResults, context: ImportContext) -> None:
    """Once per patient: run the rules on the new results (in collection order, each against
    all the others, as `add_results` does for a batch), alert staff. The slots are re-matched
    once per patient when the unit of work commits."""
    config = context.config
    batch = [(patient, new.results[patient_id]) for patient_id, patient in new.patients.items()]
    flags = raise_flags_for(
        session, batch, config.rule_settings, context.now, analytes=config.analyte_catalogue
    )
    queue_flag_alerts(session, flags, config=config, now=context.now)


def _take_in_savepoint(
    session: Session, item: Incoming, context: ImportContext, new: NewResults
) -> Outcome | Problem:
    """Store one item; a refusal rolls back only this item and becomes a Problem."""
    try:
        with session.begin_nested():
            return take(session, item, context, new)
    except (InvalidInput, ValueError, ArithmeticError) as error:
        return Problem(str(error), item.source, item.format, item.raw)


def take(session: Session, item: Incoming, context: ImportContext, new: NewResults) -> Outcome:
    """Validate and store one result, or recognise it as a repeat, correction or withdrawal.
    A new result is only stored: its slots and rules wait in `new` for `finish_patients`."""
    patient = _patient_for(session, item.mrns or _fallback(context), new)
    given = _given(item, patient, context)
    current = current_result(session, patient.id, given)
    actor = f"import:{item.source}"
    if given.status is ResultStatus.ENTERED_IN_ERROR:
        if current is None or current.status is ResultStatus.ENTERED_IN_ERROR:
            return Outcome.SKIPPED if current is None else Outcome.DUPLICATE
        withdraw_result(session, current, context.now, actor)
        return Outcome.STORED
    if current is not None and is_repeat(current, given):
        return Outcome.DUPLICATE
    if current is None:
        result = _store_new(session, patient, given, context)
        session.flush()  # a database refusal is this item's, inside its savepoint
        new.add(patient, result)
        return Outcome.STORED
    previous = current.status
    current.status = ResultStatus.REPLACED  # out of the rules' history before the new value
    session.flush()
    recorded = record_results(
        session, [given], today=context.today, now=context.now, config=context.config
    )
    replace_result(session, current, recorded.results[0], previous, context.now, actor)
    return Outcome.STORED


def _take_known(
    session: Session, item: Incoming, context: ImportContext, new: NewResults, lookups: ChunkLookups
) -> Outcome | Problem:
    """`take` from the chunk's lookups, writing nothing yet: a new result is added to the
    session (and to the lookups, for the items after it), a repeat is counted. A withdrawal or
    a correction, rare, is taken by `take` in its own savepoint once the rows before it are
    written, and its results are read again."""
    try:
        patient = lookups.patients.resolve(item.mrns or _fallback(context))
        given = _given(item, patient, context)
        current = lookups.known.current(patient.id, given)
        if given.status is ResultStatus.ENTERED_IN_ERROR:
            if current is None or current.status is ResultStatus.ENTERED_IN_ERROR:
                return Outcome.SKIPPED if current is None else Outcome.DUPLICATE
        elif current is None:
            result = _store_new(session, patient, given, context)
            new.add(patient, result)  # written with the chunk's others, or redone one by one
            lookups.known.add(result)
            return Outcome.STORED
        elif is_repeat(current, given):
            return Outcome.DUPLICATE
    except (InvalidInput, ValueError, ArithmeticError) as error:
        return Problem(str(error), item.source, item.format, item.raw)
    _flush(session)
    outcome = _take_in_savepoint(session, item, context, new)
    lookups.known.read_again(session, patient.id, given)
    return outcome


def _given(item: Incoming, patient: Patient, context: ImportContext) -> ResultIn:
    """The item as a result to store, its code mapped and its fields in the columns' limits."""
    found = context.config.code_map.analyte_for(item.codes, item.source)
    if found is None:
        raise InvalidInput(_unknown_code(item))
    analyte, code = found
    return ResultIn(
        mrn=patient.mrn,
        analyte=analyte,
        value=_fits(item.value, 64, "value"),
        unit=item.unit and _fits(item.unit, 32, "unit"),
        collected_on=_collected_on(item, context.config.clinic.timezone),
        ref_low=item.ref_low,
        ref_high=item.ref_high,
        source=_fits(item.source, 64, "source"),
        accession=item.accession and _fits(item.accession, 64, "accession"),
        status=item.status,
        collected_at=item.collected_at,
        code=_fits(code.code, 64, "code"),
        lab_flag=item.lab_flag and clean_text(item.lab_flag)[:16],
    )


def _store_new(
    session: Session, patient: Patient, given: ResultIn, context: ImportContext
) -> Result:
    return store_result(
        session,
        patient,
        given,
        today=context.today,
        now=context.now,
        analytes=context.config.analyte_catalogue,
    )


def _patient_for(session: Session, mrns: tuple[str, ...], new: NewResults) -> Patient:
    """`resolve_patient`, once per set of identifiers per import (a refusal is not kept)."""
    if mrns not in new.by_identifiers:
        new.by_identifiers[mrns] = resolve_patient(session, mrns)
    return new.by_identifiers[mrns]


def clean_text(text: str) -> str:
    """Text a database can hold: PostgreSQL refuses NUL characters."""
    return text.replace("\x00", "\ufffd")


def _fits(text: str, limit: int, name: str) -> str:
    """The column's limit is the feed's problem to see, not a silent truncation."""
    text = clean_text(text)
    if len(text) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters: {text[:40]!r}...")
    return text


def _fallback(context: ImportContext) -> tuple[str, ...]:
    return (context.fallback_mrn,) if context.fallback_mrn else ()


def _collected_on(item: Incoming, timezone: str) -> date:
    """The collection date in the clinic's time zone (clinical.md §8.17), never the UTC date."""
    if item.collected_at is not None:
        try:
            return item.collected_at.astimezone(ZoneInfo(timezone)).date()
        except OverflowError:
            raise InvalidInput(
                "collection time is out of range (after year 9999 in the clinic's time zone)"
            ) from None
    if item.collected_on is None:
        raise InvalidInput("no collection date or time")
    return item.collected_on


def _unknown_code(item: Incoming) -> str:
    """Say that the code is not mapped (not that the analyte is not monitored: it may well be)
    and give the exact config.toml line that would map it."""
    codes = ", ".join(str(code) for code in item.codes if code.code.strip())
    line = mapping_line(item.codes, item.source)
    if line is None:
        return "no test code in the result (OBX-3, Observation.code or analyte_or_loinc)"
    return (
        f"code not mapped: {codes} from source {item.source!r} is in neither [codes.loinc] nor "
        f"[codes.local]; to map it, add to config.toml: {line}, then `monitor quarantine retry`"
    )


def unreadable_document(error: Exception, source: str, fmt: str, text: str) -> Problem:
    """A document whose reading or storing failed in a way no check foresaw: kept whole for a
    person, so one file cannot stop a folder's import and one message cannot stop the MLLP
    feed. Only the error's type is named: its text may quote the message's content."""
    reason = f"could not be read ({type(error).__name__}); kept whole for a person to look at"
    return Problem(reason, source, fmt, text, whole_message=True)


def quarantine_problem(session: Session, problem: Problem, now: datetime) -> int:
    """Keep what could not be taken in, with its raw text, for a person to look at."""
    row = QuarantineItem(
        source=clean_text(problem.source)[:255],
        format=problem.format[:16],
        received_at=now,
        reason=clean_text(problem.reason),
        raw=clean_text(problem.raw),
    )
    session.add(row)
    session.flush()
    return row.id
