"""A chunk of a lab file is taken in together (issue 15): its patients and the results it may
repeat read up front, its new results written in one flush, the rules run for all its patients
at once. Held here against the item-by-item import it replaced (`_import_one_by_one`, still the
path when the database refuses a row): the same report, results, flags, alerts, quarantine,
audit and slots, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from monitor.domain.codes import Code
from monitor.domain.vocabulary import ResultStatus
from monitor.services.results import imports
from monitor.services.results.imports import ImportContext, ImportReport, import_items
from monitor.services.results.incoming import Incoming, Parsed, Problem, Skipped, StatedPatient
from monitor.store.db import unit_of_work
from monitor.store.models import (
    AuditEntry,
    Flag,
    OutboxMessage,
    Patient,
    QuarantineItem,
    Result,
    Slot,
)
from tests.conftest import _empty_tables, clinic_config
from tests.services.clinic import NOW, PROTOCOL, TODAY, enrol

CONTEXT = ImportContext(config=clinic_config(), today=TODAY, now=NOW)
ON, LATER = date(2025, 2, 12), date(2025, 2, 26)
CREATININE = Code("LN", "2160-0", "Creatinine")
PLATELETS = Code("LN", "777-3", "Platelets")


def item(mrn: str, code: Code, value: str, unit: str, accession: str, **fields: Any) -> Incoming:
    made = Incoming(
        mrns=(mrn,), codes=(code,), value=value, unit=unit, collected_on=ON, collected_at=None,
        status=ResultStatus.FINAL, source="citylab", format="hl7",
        raw=f"{mrn}|{code.code}|{value}|{accession}", accession=accession,
    )  # fmt: skip
    return replace(made, **fields)  # type: ignore[arg-type]


def creatinine(mrn: str, value: str, accession: str, **fields: Any) -> Incoming:
    return item(mrn, CREATININE, value, "umol/L", accession, **fields)


def platelets(mrn: str, value: str, accession: str, **fields: Any) -> Incoming:
    return item(mrn, PLATELETS, value, "10*9/L", accession, **fields)


def before() -> list[Parsed]:
    """Stored by an earlier import: what the chunk repeats, corrects and withdraws."""
    return [creatinine("M1", "70", "OLD1", collected_on=LATER), platelets("M2", "200", "OLD2")]


def chunk() -> list[Parsed]:
    """A chunk with every kind of item, several patients, in an order that matters."""
    stranger = StatedPatient(("M2",), "1990-05-05", ("Nobody",), "citylab", "hl7", "MSH|else")
    return [
        creatinine("M1", "72", "A1"),
        creatinine("M1", "72", "A1"),  # the same result twice in one chunk: a duplicate
        platelets("M2", "20", "B1"),  # low: flags, and an alert for the clinicians
        Problem("OBX-5 is empty", "citylab", "hl7", "OBX|9|NM|777-3||"),
        Skipped("cannot be done"),
        creatinine("M1", "90", "A1", status=ResultStatus.CORRECTED),  # corrects the first
        creatinine("M1", "95", "A1"),  # differs from the correction, unmarked: quarantined
        creatinine("Z9", "80", "C1"),  # unknown patient
        platelets("M2", "150", "D1", stated=stranger),  # someone else: the message whole
        creatinine("M1", "72", "NONE", status=ResultStatus.ENTERED_IN_ERROR),  # nothing to take
        platelets("M2", "20", "B1", status=ResultStatus.PRELIMINARY),  # behind a final: repeat
        creatinine("M1", "x" * 65, "E1"),  # too long
        creatinine("M1", "70", "OLD1", collected_on=LATER),  # stored before: a duplicate
        platelets("M2", "200", "OLD2", status=ResultStatus.ENTERED_IN_ERROR),  # withdrawn
        platelets("M3", "180", "F1", collected_on=LATER),  # a third patient
        creatinine("M3", "400", "F2", collected_on=LATER),  # high: a flag that asks a repeat
        platelets("M3", "180", "F1", collected_on=LATER),  # again, after other items
    ]


def test_a_chunk_taken_in_together_matches_one_by_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = run(engine, before(), chunk())
    forced(monkeypatch)
    _empty_tables(engine)
    one_by_one = run(engine, before(), chunk())
    assert together == one_by_one
    report = together[0]
    assert (report.stored, report.duplicates, report.skipped, report.quarantined) == (6, 4, 2, 5)


def test_a_row_refused_when_written_redoes_the_chunk_one_by_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refusal that only writing the row reveals (here a flush hook that refuses one value)
    fails the chunk's one flush; the chunk is taken in again item by item, so only that item
    is quarantined, with its reason, and nothing of the first try remains."""

    def refuse(session: Session, _context: object, _instances: object) -> None:
        if any(isinstance(row, Result) and row.value == "66" for row in session.new):
            raise ValueError("refused on the way to the database")

    event.listen(Session, "before_flush", refuse)
    try:
        items = [*chunk()[:3], creatinine("M3", "66", "G1"), *chunk()[3:]]
        together = run(engine, before(), items)
        forced(monkeypatch)
        _empty_tables(engine)
        one_by_one = run(engine, before(), items)
    finally:
        event.remove(Session, "before_flush", refuse)
    assert together == one_by_one
    assert together[0].problems[0] == "refused on the way to the database"
    assert (together[0].stored, together[0].quarantined) == (6, 6)


def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every chunk goes the item-by-item way."""

    def refuse(*_args: object, **_kwargs: object) -> ImportReport:
        raise imports._Refused

    monkeypatch.setattr(imports, "_import_together", refuse)


def run(engine: Engine, first: list[Parsed], items: list[Parsed]) -> tuple[Any, ...]:
    for mrn, born in (("M1", date(1980, 1, 2)), ("M2", date(1981, 3, 4)), ("M3", None)):
        enrol(engine, mrn, born_on=born, email=None)
    with unit_of_work(engine, PROTOCOL) as session:
        import_items(session, first, CONTEXT)
    with unit_of_work(engine, PROTOCOL) as session:
        report = import_items(session, items, CONTEXT)
    problems = [_no_ids(reason) for reason in report.problems]
    held = replace(report, quarantine_ids=[], problems=problems)  # ids: PostgreSQL's differ
    return (held, len(report.quarantine_ids), *snapshot(engine))


def snapshot(engine: Engine) -> tuple[Any, ...]:
    """The rows, with ids replaced by their place in their table and patients by MRN
    (PostgreSQL does not give the same ids twice; reasons and subjects quote them)."""
    with unit_of_work(engine) as session:
        mrn: dict[int, str] = dict(session.execute(select(Patient.id, Patient.mrn)).all())
        results = session.scalars(select(Result).order_by(Result.id)).all()
        place: dict[Any, Any] = {row.id: n for n, row in enumerate(results)} | {None: None}
        flags = session.scalars(select(Flag).order_by(Flag.id)).all()
        flag_place = {row.id: n for n, row in enumerate(flags)}
        quarantine = session.scalars(select(QuarantineItem).order_by(QuarantineItem.id))
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        outbox = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return (
            [(mrn[r.patient_id], r.analyte, r.value, r.unit, r.canonical_value, r.status,
              r.accession, r.collected_on, r.collected_at, place[r.replaced_by_id])
             for r in results],
            [(mrn[f.patient_id], place[f.result_id], f.rule, f.severity, f.status, f.message,
              f.repeat_due_on) for f in flags],
            [(q.source, q.format, _no_ids(q.reason), q.raw, q.status) for q in quarantine],
            [(a.action, a.actor, a.entity, _entity(a, place), _ids(a.after, place, flag_place))
             for a in audit],
            [(o.message, o.status, o.recipient, _no_ids(o.subject), mrn.get(o.patient_id or 0))
             for o in outbox],
            sorted((mrn[s.patient_id], s.protocol, s.panel, s.due_on, s.done_on, s.completed_on)
                   for s in session.scalars(select(Slot))),
        )  # fmt: skip


def _no_ids(text: str) -> str:
    return re.sub(r"#\d+", "#N", re.sub(r"result \d+", "result N", text))


def _entity(entry: AuditEntry, place: dict[Any, Any]) -> object:
    return place.get(entry.entity_id) if entry.entity == "result" else entry.entity


def _ids(after: Any, place: dict[Any, Any], flag_place: dict[Any, Any]) -> Any:
    if not isinstance(after, dict):
        return after
    found = dict(after)
    if "replaced_by" in found:
        found["replaced_by"] = place[found["replaced_by"]]
    if "superseded_flags" in found:
        found["superseded_flags"] = [flag_place[i] for i in found["superseded_flags"]]
    return found
