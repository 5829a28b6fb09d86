"""The unit of work rebuilds the slots of every patient a transaction touched, once, before it
commits (`services.schedule.upkeep`), and records each rebuilt patient for the web cache.

Most tests store a patient under OLD, then change something in a unit of work opened with NEW
(the TSH panel every 2 months instead of 3): a patient whose fingerprint is NEW afterwards was
rebuilt by that transaction, one still on OLD was not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from monitor.adapters.formats import parse_text
from monitor.config import Config
from monitor.domain.catalogue import Catalogue
from monitor.domain.vocabulary import ResultStatus
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient, change_status, edit_identity
from monitor.services.results.corrections import withdraw_result
from monitor.services.results.imports import ImportContext, import_items
from monitor.services.results.recording import ResultIn, add_results
from monitor.services.schedule import upkeep
from monitor.services.schedule.fingerprints import rebuild_schedules
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.store.models import (
    Course,
    Infusion,
    Patient,
    Result,
    Slot,
    SlotChange,
    Treatment,
    Waiver,
)
from tests.reference_schedule import catalogue_of

NOW = datetime(2024, 6, 1, tzinfo=UTC)
CONFIG = Config()
OLD_PROTOCOL = CONFIG.protocol.to_protocol()
OLD = catalogue_of(OLD_PROTOCOL)
NEW = catalogue_of(
    replace(
        OLD_PROTOCOL,
        panels=tuple(
            replace(p, every_months=2) if p.name == "tsh" else p for p in OLD_PROTOCOL.panels
        ),
    )
)
COURSE = [date(2024, 1, 8) + timedelta(days=d) for d in range(5)]  # last infusion 12 January
TSH_ON = date(2024, 3, 12)  # a TSH due date every 2 months only


def add(session: Session, mrn: str, *, course: bool = True, site: str = "main") -> Patient:
    patient = add_patient(
        session, mrn=mrn, name=f"Patient {mrn}", email=None, born_on=None, sex=None, site=site,
        actor="test", now=NOW,
    )  # fmt: skip
    if course:
        add_course(session, mrn=mrn, infused_on=COURSE, actor="test", now=NOW)
    return patient


def store(engine: Engine, *mrns: str) -> dict[str, int]:
    """Patients with one course and one TSH result, built under OLD; their ids."""
    with unit_of_work(engine, OLD) as session:
        for mrn in mrns:
            add(session, mrn)
        tsh = [ResultIn(mrn, "tsh", "2.0", "mIU/L", date(2024, 1, 5)) for mrn in mrns]
        add_results(session, tsh, today=NOW.date(), now=NOW, rules=CONFIG.rule_settings)
    with unit_of_work(engine) as session:
        return dict(session.execute(select(Patient.mrn, Patient.id)).all())


def built_with(engine: Engine) -> dict[str, str]:
    """Each patient's protocol, as OLD or NEW (None: never built)."""
    names = {OLD.fingerprint("alemtuzumab"): "OLD", NEW.fingerprint("alemtuzumab"): "NEW"}
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Patient.mrn, Treatment.schedule_fingerprint).outerjoin(
                Treatment, Treatment.patient_id == Patient.id
            )
        )
        return {mrn: names.get(fingerprint or "", "none") for mrn, fingerprint in rows}


def changes(engine: Engine) -> list[int]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(SlotChange.patient_id).order_by(SlotChange.id)))


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The patient ids the unit of work rebuilt, in order, one entry per rebuild."""
    seen: list[int] = []
    real = upkeep.replace_slots

    def counting(session: Session, patient: Patient, catalogue: Catalogue, today: date) -> None:
        seen.append(patient.id)
        real(session, patient, catalogue, today)

    monkeypatch.setattr(upkeep, "replace_slots", counting)
    yield seen


def first_result(session: Session, patient_id: int) -> Result:
    return session.scalars(select(Result).where(Result.patient_id == patient_id)).one()


# --- each kind of change rebuilds ---------------------------------------------------------------


def _new_course(session: Session, ids: dict[str, int]) -> None:
    add_course(session, mrn="A1", infused_on=[date(2025, 1, 6)], actor="t", now=NOW)


def _new_infusion(session: Session, ids: dict[str, int]) -> None:
    course = session.scalars(select(Course).where(Course.patient_id == ids["A1"])).one()
    course.infusions.append(Infusion(infused_on=date(2024, 1, 13)))


def _moved_infusion(session: Session, ids: dict[str, int]) -> None:
    course = session.scalars(select(Course).where(Course.patient_id == ids["A1"])).one()
    course.infusions[-1].infused_on = date(2024, 1, 13)


def _deleted_course(session: Session, ids: dict[str, int]) -> None:
    session.delete(session.scalars(select(Course).where(Course.patient_id == ids["A1"])).one())


def _new_result(session: Session, ids: dict[str, int]) -> None:
    batch = [ResultIn("A1", "platelets", "250", "10^9/L", date(2024, 2, 12))]
    add_results(
        session, batch, today=NOW.date() + timedelta(days=60), now=NOW, rules=CONFIG.rule_settings
    )


def _withdrawn_result(session: Session, ids: dict[str, int]) -> None:
    withdraw_result(session, first_result(session, ids["A1"]), NOW, "t")


def _redated_result(session: Session, ids: dict[str, int]) -> None:
    first_result(session, ids["A1"]).collected_on = date(2024, 1, 11)


def _renamed_result(session: Session, ids: dict[str, int]) -> None:
    first_result(session, ids["A1"]).analyte = "creatinine"


def _deleted_result(session: Session, ids: dict[str, int]) -> None:
    session.delete(first_result(session, ids["A1"]))


def _waiver(session: Session, ids: dict[str, int]) -> None:
    waive_slot(
        session, mrn="A1", panel="cbc", due_on=date(2024, 2, 12), by="Nurse", reason="r", now=NOW
    )


def _status(session: Session, ids: dict[str, int]) -> None:
    change_status(
        session, mrn="A1", status="withdrawn", on=date(2024, 6, 1), reason=None, actor="t", now=NOW
    )


def _status_date(session: Session, ids: dict[str, int]) -> None:
    session.get_one(Patient, ids["A1"]).status_on = date(2024, 6, 1)


CHANGES = [
    _new_course, _new_infusion, _moved_infusion, _deleted_course, _new_result, _withdrawn_result,
    _redated_result, _renamed_result, _deleted_result, _waiver, _status, _status_date,
]  # fmt: skip


@pytest.mark.parametrize("change", CHANGES, ids=lambda change: change.__name__.strip("_"))
def test_each_kind_of_change_rebuilds_the_patient_it_touches(engine, change, rebuilds):
    ids = store(engine, "A1", "B1")
    rebuilds.clear()

    with unit_of_work(engine, NEW) as session:
        change(session, ids)

    assert built_with(engine) == {"A1": "NEW", "B1": "OLD"}
    # A waiver looks its slot up in the current schedule: A1, built under OLD, is rebuilt first.
    assert rebuilds == [ids["A1"]] * (2 if change is _waiver else 1)
    assert changes(engine)[-1:] == [ids["A1"]]


def test_a_deleted_waiver_and_a_changed_waiver_rebuild(engine):
    ids = store(engine, "A1", "B1")
    with unit_of_work(engine, OLD) as session:
        for mrn, due_on in (("A1", date(2024, 2, 12)), ("B1", date(2024, 2, 12))):
            waive_slot(session, mrn=mrn, panel="cbc", due_on=due_on, by="N", reason="r", now=NOW)

    with unit_of_work(engine, NEW) as session:
        session.execute(delete(Waiver).where(Waiver.patient_id == ids["B1"]))  # not the ORM
        waiver = session.scalars(select(Waiver).where(Waiver.patient_id == ids["A1"])).one()
        waiver.due_on = date(2024, 3, 12)

    assert built_with(engine) == {"A1": "NEW", "B1": "OLD"}
    with unit_of_work(engine) as session:
        waived = session.scalars(select(Slot.due_on).where(Slot.is_waived)).all()
    assert waived == [date(2024, 2, 12), date(2024, 3, 12)]  # B1's stays: nothing rebuilt it


def test_changes_that_do_not_move_slots_rebuild_nothing(engine, rebuilds):
    ids = store(engine, "A1")
    rebuilds.clear()
    before = changes(engine)

    with unit_of_work(engine, NEW) as session:
        first_result(session, ids["A1"]).value = "2.1"  # the value matches nothing
        patient = session.get_one(Patient, ids["A1"])
        patient.status_reason, patient.email = "a note", "a1@example.org"
        patient.status = patient.status  # set to what it was: no change
        edit_identity(session, mrn="A1", name="Renamed", born_on=None, actor="t", now=NOW)

    assert rebuilds == []
    assert built_with(engine) == {"A1": "OLD"}
    assert changes(engine) == before


# --- one rebuild per patient per commit ---------------------------------------------------------


def test_one_rebuild_per_patient_per_commit_however_many_changes(engine, rebuilds):
    ids = store(engine, "A1", "B1")
    rebuilds.clear()
    before = len(changes(engine))

    with unit_of_work(engine, NEW) as session:
        for day in range(3):
            collected = date(2024, 2, 12) + timedelta(days=day)
            batch = [ResultIn(mrn, "platelets", "250", "10^9/L", collected) for mrn in ("B1", "A1")]
            add_results(session, batch, today=date(2024, 3, 1), now=NOW, rules=CONFIG.rule_settings)
        add_course(session, mrn="A1", infused_on=[date(2025, 1, 6)], actor="t", now=NOW)
        change_status(
            session,
            mrn="B1",
            status="withdrawn",
            on=date(2025, 1, 1),
            reason=None,
            actor="t",
            now=NOW,
        )

    assert rebuilds == sorted([ids["A1"], ids["B1"]])  # in id order: patients lock in one order
    assert changes(engine)[before:] == sorted([ids["A1"], ids["B1"]])


def test_an_import_of_many_results_for_one_patient_rebuilds_once(engine, rebuilds):
    store(engine, "A1")
    rebuilds.clear()
    rows = "".join(
        f"A1,platelets,{200 + n},10^9/L,2024-02-{10 + n},,,LAB,ACC{n}\n" for n in range(8)
    )
    text = "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession\n"
    context = ImportContext(CONFIG, date(2024, 3, 1), NOW)

    with unit_of_work(engine, NEW) as session:
        report = import_items(session, parse_text(text + rows, "csv", CONFIG, source=None), context)

    assert report.stored == 8
    assert len(rebuilds) == 1


def test_a_read_of_slots_in_the_transaction_sees_its_writes_and_commit_adds_no_rebuild(
    engine, rebuilds
):
    ids = store(engine, "A1")
    rebuilds.clear()

    with unit_of_work(engine, NEW) as session:
        add_course(session, mrn="A1", infused_on=[date(2025, 1, 6)], actor="t", now=NOW)
        second = select(func.count()).where(Slot.patient_id == ids["A1"], Slot.course == 2)
        assert (session.scalar(second) or 0) > 0  # settled before the read, like autoflush
        assert rebuilds == [ids["A1"]]

    assert rebuilds == [ids["A1"]]


def test_settle_rebuilds_now_and_with_no_autoflush_a_read_waits(engine, rebuilds):
    ids = store(engine, "A1")
    rebuilds.clear()
    tsh_slot = select(func.count()).where(
        Slot.patient_id == ids["A1"], Slot.panel == "tsh", Slot.due_on == TSH_ON
    )

    with unit_of_work(engine, NEW) as session:
        session.get_one(Patient, ids["A1"]).status_on = date(2030, 1, 1)
        with session.no_autoflush:
            assert session.scalar(tsh_slot) == 0  # nothing flushed, nothing settled
        upkeep.settle(session)
        assert rebuilds == [ids["A1"]]
        assert session.scalar(tsh_slot) == 1


# --- savepoints ---------------------------------------------------------------------------------


def test_a_rolled_back_savepoint_keeps_the_rest_and_skips_a_patient_it_created(engine, rebuilds):
    ids = store(engine, "A1")
    rebuilds.clear()

    with unit_of_work(engine, NEW) as session:
        add_course(session, mrn="A1", infused_on=[date(2025, 1, 6)], actor="t", now=NOW)
        savepoint = session.begin_nested()
        add(session, "GONE")
        session.flush()
        savepoint.rollback()

    assert built_with(engine) == {"A1": "NEW"}
    assert rebuilds == [ids["A1"]]  # GONE's row no longer exists: skipped
    assert changes(engine)[-1:] == [ids["A1"]]


def test_a_change_in_a_rolled_back_savepoint_leaves_the_slots_as_committed(engine):
    ids = store(engine, "A1")

    with unit_of_work(engine, NEW) as session:
        savepoint = session.begin_nested()
        add_course(session, mrn="A1", infused_on=[date(2025, 1, 6)], actor="t", now=NOW)
        session.flush()
        savepoint.rollback()

    with unit_of_work(engine) as session:
        second = select(func.count()).where(Slot.patient_id == ids["A1"], Slot.course == 2)
        assert session.scalar(second) == 0
        assert session.scalar(select(func.count()).select_from(Slot)) > 0


def test_a_rebuild_undone_by_a_savepoint_rollback_is_done_again_at_commit(engine, rebuilds):
    ids = store(engine, "A1")
    rebuilds.clear()

    with unit_of_work(engine, NEW) as session:
        add_course(session, mrn="A1", infused_on=[date(2025, 1, 6)], actor="t", now=NOW)
        savepoint = session.begin_nested()
        upkeep.settle(session)  # rebuilt inside the savepoint...
        savepoint.rollback()  # ...and that rebuild is gone; the course is not

    assert rebuilds == [ids["A1"], ids["A1"]]
    assert built_with(engine) == {"A1": "NEW"}
    with unit_of_work(engine) as session:
        second = select(func.count()).where(Slot.patient_id == ids["A1"], Slot.course == 2)
        assert (session.scalar(second) or 0) > 0


# --- a unit of work without a protocol -----------------------------------------------------------


def test_a_transaction_without_a_protocol_that_touches_a_patient_fails_and_commits_nothing(
    engine,
):
    store(engine, "A1")

    with pytest.raises(upkeep.MissingProtocol, match="no protocol"):
        with unit_of_work(engine) as session:
            add_course(session, mrn="A1", infused_on=[date(2025, 1, 6)], actor="t", now=NOW)

    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Course)) == 1


def test_without_a_protocol_a_read_of_slots_after_a_change_fails_too(engine):
    ids = store(engine, "A1")
    with pytest.raises(upkeep.MissingProtocol):
        with unit_of_work(engine) as session:
            session.get_one(Patient, ids["A1"]).status_on = date(2030, 1, 1)
            session.scalar(select(func.count()).select_from(Slot))


def test_without_a_protocol_a_new_patient_or_other_changes_commit(engine):
    with unit_of_work(engine) as session:
        add(session, "N1", course=False)  # no course: no slots to build
        session.execute(update(Patient).values(email="n1@example.org"))
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Treatment)) == 0


# --- the record of changes ----------------------------------------------------------------------


def test_the_record_names_rebuilt_new_and_moved_patients_once_per_commit(engine):
    ids = store(engine, "A1", "B1")
    assert sorted(changes(engine)) == sorted(ids.values())  # the two were built in one commit

    with unit_of_work(engine, OLD) as session:
        last = upkeep.latest_change(session)
        c1 = add(session, "C1", course=False, site="east")  # a new site on the lists
        session.get_one(Patient, ids["B1"]).site = "north"  # B1's line moves site
        session.get_one(Patient, ids["A1"]).email = "a1@example.org"  # no line shows it

    with unit_of_work(engine) as session:
        assert upkeep.patients_changed_since(session, last) == {c1.id, ids["B1"]}
        assert upkeep.latest_change(session) > last
    with unit_of_work(engine, OLD) as session:  # a read-only unit of work records nothing
        assert upkeep.patients_changed_since(session, upkeep.latest_change(session)) == set()
        session.scalar(select(func.count()).select_from(Slot))
    assert len(changes(engine)) == 4


def test_a_full_rebuild_records_every_patient(engine):
    ids = store(engine, "A1", "B1", "C1")
    with unit_of_work(engine) as session:
        last = upkeep.latest_change(session)

    rebuild_schedules(engine, NEW, only_stale=False, chunk_size=2)

    with unit_of_work(engine) as session:
        assert upkeep.patients_changed_since(session, last) == set(ids.values())
    assert built_with(engine) == {"A1": "NEW", "B1": "NEW", "C1": "NEW"}


def test_pruning_keeps_a_week_and_ids_are_never_given_twice(engine):
    ids = store(engine, "A1")
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        session.execute(update(SlotChange).values(changed_at=now - timedelta(days=8)))
        session.add(SlotChange(patient_id=ids["A1"], changed_at=now - timedelta(days=6)))
    with unit_of_work(engine) as session:
        newest = upkeep.latest_change(session)
        assert upkeep.prune_changes(session, now) == 1
        assert upkeep.prune_changes(session, now) == 0
        session.execute(delete(SlotChange))  # even an emptied table goes on counting
    with unit_of_work(engine, OLD) as session:
        change_status(
            session,
            mrn="A1",
            status="withdrawn",
            on=date(2024, 6, 1),
            reason=None,
            actor="t",
            now=NOW,
        )
    with unit_of_work(engine) as session:
        assert upkeep.latest_change(session) > newest
        assert upkeep.patients_changed_since(session, newest) == {ids["A1"]}


def test_the_daily_cycle_prunes_the_record(engine):
    from monitor.services.mail.daily import run_daily

    store(engine, "A1")
    assert changes(engine) != []
    run_daily(
        engine, on=date(2024, 1, 20), config=CONFIG, now=datetime.now(UTC) + timedelta(days=8)
    )
    assert changes(engine) == []


def test_a_withdrawn_result_leaves_the_matching(engine):
    """The status a withdrawal sets counts as a change: the TSH slot it completed opens again."""
    ids = store(engine, "A1")
    baseline = select(Slot.completed_on).where(
        Slot.patient_id == ids["A1"], Slot.panel == "tsh", Slot.kind == "baseline"
    )
    with unit_of_work(engine) as session:
        assert session.scalar(baseline) == date(2024, 1, 5)
    with unit_of_work(engine, OLD) as session:
        withdraw_result(session, first_result(session, ids["A1"]), NOW, "t")
        assert first_result(session, ids["A1"]).status is ResultStatus.ENTERED_IN_ERROR
        assert session.scalar(baseline) is None
