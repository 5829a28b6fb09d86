"""New results re-match only the slots they can change (`services.schedule.rematch`), and any
sequence of such updates leaves exactly the slots a full rebuild makes (issue 15 item 2).

The reference is the full rebuild itself: after the updates, each patient's slots are read
(every column but the id), the patient is rebuilt whole in a unit of work (`upkeep.touch`), and
the two must be equal. To tell that the fast path ran, a test marks the patient's last slot
(course 99, which no plan gives): a rebuild puts it right, an incremental update leaves it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from monitor import clock
from monitor.adapters.formats import parse_text
from monitor.config import Config
from monitor.domain.vocabulary import ResultStatus
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.people.treatments import start_treatment
from monitor.services.results.imports import ImportContext, import_items
from monitor.services.results.recording import ResultIn, add_results
from monitor.services.schedule import upkeep
from monitor.store.db import unit_of_work
from monitor.store.models import Patient, Result, Slot, SlotChange

CONFIG = Config()
CATALOGUE = CONFIG.catalogue
TODAY = clock.now_utc().date()  # the unit of work plans from the wall clock's day
NOW = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
# Analytes of the alemtuzumab and dimethyl fumarate panels, and one of neither (free_t4).
ANALYTES = ("platelets", "neutrophils", "creatinine", "tsh", "lymphocytes", "alt", "free_t4")
UNITS = {"tsh": "mIU/L", "creatinine": "umol/L", "free_t4": "pmol/L", "alt": "U/L"}
VALUES = {"platelets": ("210", "60"), "lymphocytes": ("1.2", "0.4"), "alt": ("20", "400")}
SLOT_COLUMNS = [c for c in Slot.__table__.columns if c.name != "id"]
MRNS = itertools.count(1)


def slots_of(session: Session, patient_id: int) -> list[tuple[Any, ...]]:
    query = select(*SLOT_COLUMNS).where(Slot.patient_id == patient_id)
    return sorted(tuple(row) for row in session.execute(query))


def last_slot(patient_id: int) -> Any:
    last = select(func.max(Slot.due_on)).where(Slot.patient_id == patient_id).scalar_subquery()
    return (Slot.patient_id == patient_id) & (Slot.due_on == last)


def mark(engine: Engine, patient_id: int) -> None:
    with engine.begin() as connection:  # Core, outside the unit of work: nothing to rebuild
        connection.execute(update(Slot).where(last_slot(patient_id)).values(course=99))


def is_marked(engine: Engine, patient_id: int) -> bool:
    with unit_of_work(engine) as session:
        return session.scalar(select(Slot.course).where(last_slot(patient_id))) == 99


def add_clinic_patient(engine: Engine, started_years_ago: int, continuous: bool) -> tuple[str, int]:
    """A patient on alemtuzumab (one course), and on dimethyl fumarate too when `continuous`."""
    mrn = f"INC{next(MRNS):05d}"
    first = TODAY - timedelta(days=365 * started_years_ago + 30)
    with unit_of_work(engine, CATALOGUE) as session:
        patient = add_patient(
            session, mrn=mrn, name="Test Patient", email=None, born_on=None, sex="F",
            site="main", actor="test", now=NOW,
        )  # fmt: skip
        add_course(
            session, mrn=mrn, infused_on=[first + timedelta(days=d) for d in range(5)],
            actor="test", now=NOW,
        )  # fmt: skip
        if continuous:
            start_treatment(
                session, mrn=mrn, protocol="dimethyl_fumarate",
                started_on=first + timedelta(days=400), actor="test", now=NOW,
            )  # fmt: skip
        session.flush()
        return mrn, patient.id


def result_in(mrn: str, analyte: str, days_ago: int, abnormal: bool) -> ResultIn:
    value = VALUES.get(analyte, ("1.0", "1.0"))[abnormal]
    on = TODAY - timedelta(days=days_ago)
    return ResultIn(mrn, analyte, value, UNITS.get(analyte, "10*9/L"), on, source="lab")


# One batch: (patient index, analyte, days before today, abnormal value).
BATCH = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.sampled_from(ANALYTES),
        st.integers(0, 365 * 4),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize("continuous", [False, True], ids=["alemtuzumab", "with-continuous"])
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(BATCH, min_size=1, max_size=3), years=st.integers(0, 3))
def test_incremental_updates_give_the_full_rebuild(
    engine: Engine, continuous: bool, batches: list[list[tuple[int, str, int, bool]]], years: int
) -> None:
    patients = [add_clinic_patient(engine, years, continuous) for _ in range(2)]
    for batch in batches:  # each batch its own transaction, results repeated now and then
        with unit_of_work(engine, CATALOGUE) as session:
            given = [result_in(patients[i][0], a, d, ab) for i, a, d, ab in batch]
            add_results(session, given, today=TODAY, now=NOW, rules=CONFIG.rule_settings)
    for _mrn, patient_id in patients:
        with unit_of_work(engine, CATALOGUE) as session:
            updated = slots_of(session, patient_id)
        with unit_of_work(engine, CATALOGUE) as session:
            upkeep.touch(session, [patient_id])
            session.flush()
            upkeep.settle(session)
            rebuilt = slots_of(session, patient_id)
        assert updated == rebuilt


def hl7(mrn: str, day: date, *codes: str) -> str:
    stamp = f"{day:%Y%m%d}090000+0000"
    segments = [
        f"MSH|^~\\&|LAB|L|MON|C|{stamp}||ORU^R01|M{mrn}{day:%j}|P|2.5.1",
        f"PID|1||{mrn}^^^L^MR",
        f"OBR|1||A{mrn}|58410-2^CBC^LN",
    ]
    units = {"777-3": ("10*9/L", "210"), "751-8": ("10*9/L", "4.0"), "2160-0": ("mg/dL", "0.9")}
    units["718-7"] = ("g/L", "135")
    for i, code in enumerate(codes, 1):
        unit, value = units[code]
        segments.append(f"OBX|{i}|NM|{code}^^LN||{value}|{unit}|||||F|||{stamp}")
    return "\r".join(segments) + "\r"


def test_an_imported_message_updates_slots_in_place(engine: Engine) -> None:
    """Four results of one message: the cbc slot whose window holds them is done, no slot is
    deleted or added (the ids stay), and the change is recorded for the web cache."""
    mrn, patient_id = add_clinic_patient(engine, 0, continuous=False)
    mark(engine, patient_id)
    with unit_of_work(engine) as session:
        due = session.execute(
            select(Slot.due_on, Slot.panel)
            .where(Slot.patient_id == patient_id, Slot.window_start <= TODAY, Slot.panel == "cbc")
            .order_by(Slot.due_on.desc())
        ).first()
        changes_before = session.scalar(select(func.count()).select_from(SlotChange))
        rows_before = slots_of(session, patient_id)
    assert due is not None
    day = min(TODAY, due.due_on)
    items = parse_text(
        hl7(mrn, day, "777-3", "751-8", "718-7", "2160-0"), "hl7", CONFIG, source=None
    )
    with unit_of_work(engine, CATALOGUE) as session:
        report = import_items(session, items, ImportContext(CONFIG, TODAY, NOW))
    assert report.stored == 4
    assert is_marked(engine, patient_id)
    with unit_of_work(engine, CATALOGUE) as session:
        done = session.scalar(
            select(Slot.done_on).where(
                Slot.patient_id == patient_id, Slot.panel == "cbc", Slot.due_on == due.due_on
            )
        )
        changes = session.execute(
            select(SlotChange.patient_id).order_by(SlotChange.id.desc())
        ).first()
        count = session.scalar(select(func.count()).select_from(SlotChange))
        updated = slots_of(session, patient_id)
    assert done == day
    assert updated != rows_before
    assert changes is not None and changes.patient_id == patient_id
    assert count == changes_before + 1


def test_a_corrected_result_rebuilds_the_patient(engine: Engine) -> None:
    """Anything but new results (here a result's status) keeps the full rebuild."""
    mrn, patient_id = add_clinic_patient(engine, 0, continuous=False)
    with unit_of_work(engine, CATALOGUE) as session:
        given = [result_in(mrn, "platelets", 3, abnormal=False)]
        add_results(session, given, today=TODAY, now=NOW, rules=CONFIG.rule_settings)
    mark(engine, patient_id)
    with unit_of_work(engine, CATALOGUE) as session:
        result = session.scalars(select(Result).where(Result.patient_id == patient_id)).one()
        result.value = "211"  # not a slot's concern: nothing rebuilt
    assert is_marked(engine, patient_id)
    with unit_of_work(engine, CATALOGUE) as session:
        result = session.scalars(select(Result).where(Result.patient_id == patient_id)).one()
        result.status = ResultStatus.REPLACED
    assert not is_marked(engine, patient_id)


def test_slots_from_another_protocol_are_rebuilt(engine: Engine) -> None:
    """A patient whose slots came from another definition is rebuilt, not patched."""
    mrn, patient_id = add_clinic_patient(engine, 0, continuous=False)
    with unit_of_work(engine) as session:
        patient = session.get(Patient, patient_id)
        assert patient is not None
        for treatment in patient.treatments:
            treatment.schedule_fingerprint = "older"
    mark(engine, patient_id)
    with unit_of_work(engine, CATALOGUE) as session:
        given = [result_in(mrn, "platelets", 3, abnormal=False)]
        add_results(session, given, today=TODAY, now=NOW, rules=CONFIG.rule_settings)
    assert not is_marked(engine, patient_id)


def test_an_import_reads_results_and_slots_through_indexes(tmp_path: Any) -> None:
    """Every read of the results and slots tables while a message is imported (the repeat check,
    the rules' history, the re-match) searches an index: no full scan (SQLite's query plan)."""
    from sqlalchemy import event

    from monitor.store.db import make_engine
    from monitor.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    upgrade(engine)
    mrn, _patient_id = add_clinic_patient(engine, 1, continuous=True)
    reads: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and (
            "FROM results" in statement or "FROM slots" in statement
        ):
            reads.append((statement, parameters))

    text = hl7(mrn, TODAY, "777-3", "751-8", "718-7", "2160-0")
    items = parse_text(text, "hl7", CONFIG, source=None)
    event.listen(engine, "before_cursor_execute", keep)
    with unit_of_work(engine, CATALOGUE) as session:
        import_items(session, items, ImportContext(CONFIG, TODAY, NOW))
    event.remove(engine, "before_cursor_execute", keep)
    assert reads
    with engine.connect() as connection:
        for statement, parameters in reads:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = [row[-1] for row in plan]
            assert not any(d.startswith(("SCAN results", "SCAN slots")) for d in details), (
                statement,
                details,
            )
    engine.dispose()
