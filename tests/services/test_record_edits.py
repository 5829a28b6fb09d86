"""Editing the record through the services (issue 14 item 2): a patient's details, a course's
dates, a course deleted, a result corrected or voided. Each change is audited with before,
after and the reason; the slots follow (compared with a fresh patient given the corrected
record); bad input changes nothing (row counts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, func, select

from monitor.domain.vocabulary import Channel, FlagStatus, PatientStatus, ResultStatus
from monitor.errors import InvalidInput, NotFound
from monitor.services.people import courses
from monitor.services.people.course_edits import correct_course, delete_course
from monitor.services.people.details import PatientChanges, allowed_sites, edit_patient
from monitor.services.people.directory import folded, patient_list
from monitor.services.people.patients import add_patient, change_status, set_email_preference
from monitor.services.results.amendments import correct_result, void_result
from monitor.services.results.intake import record_results
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.store.models import Base, Flag, Result, Slot, Treatment, Waiver
from tests.conftest import clinic_config
from tests.services.clinic import (
    CONFIG,
    COURSE,
    FEBRUARY,
    MRN,
    NOW,
    PROTOCOL,
    TODAY,
    audit_entries,
    enrol,
    patient,
    result_in,
    slot,
)

SECOND = [date(2026, 1, 12) + timedelta(days=d) for d in range(3)]
MOVED = [d + timedelta(days=7) for d in COURSE]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def slots_of(engine: Engine, mrn: str) -> list[tuple[object, ...]]:
    """Every stored slot of the patient, without ids (comparable between patients)."""
    columns = [c for c in Slot.__table__.columns if c.name not in ("id", "patient_id")]
    with unit_of_work(engine) as session:
        pid = patient(engine, mrn).id
        rows = session.execute(select(*columns).where(Slot.patient_id == pid)).all()
        return sorted(tuple(row) for row in rows)


def edit(engine: Engine, reason: str | None = None, **fields: object) -> dict[str, tuple]:
    with unit_of_work(engine, PROTOCOL) as session:
        return edit_patient(
            session,
            mrn=MRN,
            changes=PatientChanges(**fields),  # type: ignore[arg-type]
            reason=reason,
            sites=allowed_sites(session, CONFIG),
            actor="cli:nurse",
            now=NOW,
        )


# --- patient details ----------------------------------------------------------------------------


def test_an_edit_changes_each_field_and_audits_only_what_changed(engine: Engine) -> None:
    enrol(engine, email="alex@example.org")

    changed = edit(
        engine,
        name="Alex Morgan-Hale",
        email="alex@example.org",  # unchanged: not a change
        phone=" +44 (0)20 7946-0000 ",
        address="1 High Street\r\n\r\nLondon  ",
        channel="SMS",
    )

    assert set(changed) == {"name", "phone", "address", "channel"}
    row = patient(engine)
    assert (row.name, row.phone, row.address) == (
        "Alex Morgan-Hale",
        "+44 (0)20 7946-0000",
        "1 High Street\nLondon",
    )
    assert row.channel is Channel.SMS
    [entry] = audit_entries(engine, "patient.edit")
    assert entry.actor == "cli:nurse"
    assert entry.before == {
        "name": "Alex Morgan",
        "phone": None,
        "address": None,
        "channel": "email",
    }
    assert entry.after == {
        "name": "Alex Morgan-Hale",
        "phone": "+44 (0)20 7946-0000",
        "address": "1 High Street\nLondon",
        "channel": "sms",
    }


def test_a_new_email_address_keeps_the_patients_opt_out(engine: Engine) -> None:
    enrol(engine, email="alex@example.org")
    with unit_of_work(engine, PROTOCOL) as session:
        set_email_preference(session, mrn=MRN, address=None, opt_out=True, actor="t", now=NOW)

    edit(engine, email="alex.new@example.org")

    row = patient(engine)
    assert row.email == "alex.new@example.org"
    assert row.email_opted_out is True


def test_an_empty_text_clears_an_optional_field(engine: Engine) -> None:
    enrol(engine, email="alex@example.org")
    edit(engine, phone="0161 496 0000")

    edit(engine, email="", phone="  ")

    row = patient(engine)
    assert (row.email, row.phone) == (None, None)


def test_a_change_of_sex_needs_a_reason_and_rebuilds_the_sex_panels(engine: Engine) -> None:
    config = clinic_config(
        {"protocols": {"alemtuzumab": {"panels": {"cervical": {"enabled": True}}}}}
    )
    catalogue = config.catalogue
    with unit_of_work(engine, catalogue) as session:
        add_patient(session, mrn=MRN, name="Alex Morgan", email=None, born_on=date(1980, 1, 2),
                    sex="M", site="main", actor="t", now=NOW)  # fmt: skip
        courses.add_course(session, mrn=MRN, infused_on=COURSE, actor="t", now=NOW)
    before = counts(engine)

    def change(reason: str | None) -> None:
        with unit_of_work(engine, catalogue) as session:
            edit_patient(session, mrn=MRN, changes=PatientChanges(sex="F"), reason=reason,
                         sites=["main"], actor="t", now=NOW)  # fmt: skip

    with pytest.raises(InvalidInput, match="reason is required to change sex"):
        change("  ")
    assert counts(engine) == before
    assert "cervical" not in {s[2] for s in slots_of(engine, MRN)}

    change("registered as M by mistake")

    assert patient(engine).sex == "F"
    panels = {row[2] for row in slots_of(engine, MRN)}  # (protocol, treatment, panel, ...)
    assert "cervical" in panels
    [entry] = audit_entries(engine, "patient.edit")
    assert entry.before == {"sex": "M"}
    assert entry.after == {"sex": "F", "reason": "registered as M by mistake"}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"phone": "12345"}, "phone number must have 7 to 20 digits (it has 5)"),
        ({"phone": "0161 496 0000 ext 2"}, "phone number may hold only digits"),
        ({"phone": "0161+4960000"}, "phone number may hold only digits"),
        ({"phone": "1" * 21}, "phone number must have 7 to 20 digits"),
        ({"email": "not an address"}, "email address 'not an address' is not an email address"),
        ({"site": "mars"}, "site 'mars' is not a site of this clinic (main)"),
        ({"sex": "Q"}, "sex must be one of F, M, X"),
        ({"channel": "fax"}, "channel 'fax' must be one of email, letter, sms"),
        ({"name": "Two\nLines"}, "name must be one line"),
        ({"born_on": date(2030, 1, 1)}, "date of birth 2030-01-01 is in the future"),
        ({"address": "\n".join(f"line {n}" for n in range(9))}, "at most 8 lines"),
        ({}, "give at least one field"),
    ],
)
def test_bad_details_are_refused_and_nothing_changes(
    engine: Engine, fields: dict[str, object], problem: str
) -> None:
    enrol(engine)
    before = counts(engine)
    snapshot = vars(patient(engine)).copy()

    with pytest.raises(InvalidInput, match=problem.replace("(", r"\(").replace(")", r"\)")):
        edit(engine, **({"phone": "0161 496 0000"} | fields)) if fields else edit(engine)

    assert counts(engine) == before
    after = vars(patient(engine))
    for key in ("name", "phone", "email", "site", "sex", "channel", "born_on", "address"):
        assert after[key] == snapshot[key]


def test_the_sites_are_the_configured_ones_or_those_in_use(engine: Engine) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        add_patient(session, mrn="N1", name="Nia", email=None, born_on=None, sex=None,
                    site="north", actor="t", now=NOW)  # fmt: skip
        assert allowed_sites(session, CONFIG) == ["main", "north"]
        configured = clinic_config({"clinic": {"sites": ["main", "south"]}})
        assert allowed_sites(session, configured) == ["main", "south"]

    edit(engine, site="north")

    assert patient(engine).site == "north"


# --- the patient list ---------------------------------------------------------------------------


def test_the_search_ignores_case_and_accents_and_matches_mrn_or_name(engine: Engine) -> None:
    with unit_of_work(engine, PROTOCOL) as session:
        for mrn, name, site in [("A1", "José Pérez", "main"), ("B2", "Ann Example", "north"),
                                ("C3", "Zoë O'Brien", "main")]:  # fmt: skip
            add_patient(session, mrn=mrn, name=name, email=None, born_on=None, sex=None,
                        site=site, actor="t", now=NOW)  # fmt: skip
        change_status(session, mrn="C3", status="withdrawn", on=TODAY, reason=None, actor="t",
                      now=NOW)  # fmt: skip

    def mrns(**filters: object) -> list[str]:
        with unit_of_work(engine) as session:
            return [line.mrn for line in patient_list(session, **filters)]  # type: ignore[arg-type]

    assert mrns(search="JOSE") == ["A1"]
    assert mrns(search="perez jos") == ["A1"]
    assert mrns(search="zoe o'b") == ["C3"]
    assert mrns(search="b2") == ["B2"]
    assert mrns(search="example ann") == ["B2"]
    assert mrns(search="nobody") == []
    assert mrns() == ["B2", "A1", "C3"]  # by name
    assert mrns(site="main") == ["A1", "C3"]
    assert mrns(status=PatientStatus.WITHDRAWN) == ["C3"]
    assert mrns(site="main", status=PatientStatus.ACTIVE, search="pér") == ["A1"]
    assert folded("ÉCOLE Straße") == "ecole strasse"


def test_the_list_is_one_query(engine: Engine) -> None:
    enrol(engine)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with unit_of_work(engine) as session:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            lines = patient_list(session, site="main", status=PatientStatus.ACTIVE, search="alex")
        finally:
            event.remove(engine, "before_cursor_execute", seen)

    assert [line.mrn for line in lines] == [MRN]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


# --- courses ------------------------------------------------------------------------------------


def fresh(engine: Engine, mrn: str, *course_dates: list[date]) -> None:
    enrol(engine, mrn, course=False)
    for dates in course_dates:
        with unit_of_work(engine, PROTOCOL) as session:
            courses.add_course(session, mrn=mrn, infused_on=dates, actor="t", now=NOW)


def test_a_corrected_course_gives_the_slots_of_a_patient_given_those_dates(engine: Engine) -> None:
    fresh(engine, MRN, COURSE, SECOND)
    fresh(engine, "FRESH", MOVED, SECOND)
    assert slots_of(engine, MRN) != slots_of(engine, "FRESH")

    with unit_of_work(engine, PROTOCOL) as session:
        correct_course(session, mrn=MRN, number=1, infused_on=MOVED, reason="typed a week early",
                       actor="cli:nurse", now=NOW)  # fmt: skip

    assert slots_of(engine, MRN) == slots_of(engine, "FRESH")
    [entry] = audit_entries(engine, "course.correct")
    assert entry.before == {"protocol": "alemtuzumab", "number": 1,
                            "dates": [d.isoformat() for d in COURSE]}  # fmt: skip
    assert entry.after == {"protocol": "alemtuzumab", "number": 1,
                           "dates": [d.isoformat() for d in MOVED],
                           "reason": "typed a week early"}  # fmt: skip
    with unit_of_work(engine) as session:
        started = session.scalars(select(Treatment.started_on)).all()
    assert set(started) == {MOVED[0]}


def test_a_correction_that_keeps_some_dates_and_renumbers(engine: Engine) -> None:
    fresh(engine, MRN, COURSE, SECOND)
    earlier = [date(2024, 1, 8) + timedelta(days=d) for d in range(3)]
    fresh(engine, "FRESH", earlier, COURSE)

    with unit_of_work(engine, PROTOCOL) as session:
        correct_course(session, mrn=MRN, number=2, infused_on=earlier, reason="wrong year",
                       actor="t", now=NOW)  # fmt: skip

    assert slots_of(engine, MRN) == slots_of(engine, "FRESH")
    assert audit_entries(engine, "course.correct")[0].after["number"] == 1


@pytest.mark.parametrize(
    ("number", "dates", "reason", "problem"),
    [
        (3, MOVED, "why", "course 3 does not exist: M1 has 2 course"),
        (0, MOVED, "why", "course 0 does not exist"),
        (2, COURSE[1:3], "why", "overlaps course"),
        (1, [COURSE[0], COURSE[0] + timedelta(days=20)], "why", "span more than 14 days"),
        (1, [], "why", "at least one infusion date"),
        (1, MOVED, " ", "reason must not be empty"),
    ],
)
def test_a_bad_correction_changes_nothing(
    engine: Engine, number: int, dates: list[date], reason: str, problem: str
) -> None:
    fresh(engine, MRN, COURSE, SECOND)
    before, slots = counts(engine), slots_of(engine, MRN)

    with pytest.raises(InvalidInput, match=problem), unit_of_work(engine, PROTOCOL) as session:
        correct_course(session, mrn=MRN, number=number, infused_on=dates, reason=reason,
                       actor="t", now=NOW)  # fmt: skip

    assert counts(engine) == before
    assert slots_of(engine, MRN) == slots


def test_a_deleted_course_gives_the_slots_of_a_patient_without_it(engine: Engine) -> None:
    fresh(engine, MRN, COURSE, SECOND)
    fresh(engine, "FRESH", COURSE)

    with unit_of_work(engine, PROTOCOL) as session:
        emptied = delete_course(session, mrn=MRN, number=2, reason="never given", actor="t",
                                now=NOW)  # fmt: skip

    assert emptied is False
    assert slots_of(engine, MRN) == slots_of(engine, "FRESH")
    [entry] = audit_entries(engine, "course.delete")
    assert entry.before["dates"] == [d.isoformat() for d in SECOND]
    assert entry.after == {"deleted": True, "treatment_deleted": False, "reason": "never given"}


def test_deleting_the_last_course_deletes_the_emptied_treatment(engine: Engine) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        record_results(session, [result_in("platelets", "50", "10^9/L", FEBRUARY)], today=TODAY,
                       now=NOW, config=CONFIG)  # fmt: skip
        waive_slot(session, mrn=MRN, panel="cbc", due_on=date(2025, 3, 10), by="nurse",
                   reason="done at the GP", now=NOW)  # fmt: skip
    flags_before = flag_states(engine)

    with unit_of_work(engine, PROTOCOL) as session:
        assert delete_course(session, mrn=MRN, number=1, reason="wrong patient", actor="t",
                             now=NOW)  # fmt: skip

    assert counts(engine)["treatments"] == 0
    assert counts(engine)["courses"] == counts(engine)["infusions"] == 0
    assert slots_of(engine, MRN) == []
    assert counts(engine)[Waiver.__tablename__] == 1  # kept, matching nothing
    assert flag_states(engine) == flags_before  # flags belong to results
    # The record and a new course still work with the waiver left behind.
    with unit_of_work(engine, PROTOCOL) as session:
        courses.add_course(session, mrn=MRN, infused_on=COURSE, actor="t", now=NOW)
    march = slot(engine, "cbc", date(2025, 3, 10))
    assert march is not None and march.is_waived  # the same slot again: its waiver applies
    with pytest.raises(InvalidInput, match="has no course"), unit_of_work(engine, PROTOCOL) as s:
        delete_course(s, mrn=MRN, number=1, reason="x", actor="t", now=NOW, protocol="natalizumab")


def test_a_corrected_course_leaves_the_waiver_of_a_vanished_slot_harmless(engine: Engine) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        waive_slot(session, mrn=MRN, panel="cbc", due_on=date(2025, 3, 10), by="nurse",
                   reason="done at the GP", now=NOW)  # fmt: skip
        correct_course(session, mrn=MRN, number=1, infused_on=MOVED, reason="typo", actor="t",
                       now=NOW)  # fmt: skip
    fresh(engine, "FRESH", MOVED)

    assert slot(engine, "cbc", date(2025, 3, 10)) is None
    assert slots_of(engine, MRN) == slots_of(engine, "FRESH")  # none of them waived
    assert counts(engine)["waivers"] == 1


def test_an_unknown_mrn_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound), unit_of_work(engine, PROTOCOL) as session:
        delete_course(session, mrn="NOPE", number=1, reason="x", actor="t", now=NOW)


# --- results ------------------------------------------------------------------------------------


def flag_states(engine: Engine) -> list[tuple[int, str, FlagStatus]]:
    with unit_of_work(engine) as session:
        return [
            (f.result_id, f.rule, f.status) for f in session.scalars(select(Flag).order_by(Flag.id))
        ]


def store(engine: Engine, analyte: str, value: str, unit: str | None) -> int:
    with unit_of_work(engine, PROTOCOL) as session:
        recorded = record_results(session, [result_in(analyte, value, unit, FEBRUARY)],
                                  today=TODAY, now=NOW, config=CONFIG)  # fmt: skip
        return recorded.results[0].id


def correct(engine: Engine, result_id: int, value: str, unit: str | None, reason: str = "typo"):  # type: ignore[no-untyped-def]
    with unit_of_work(engine, PROTOCOL) as session:
        done = correct_result(session, result_id=result_id, value=value, unit=unit, reason=reason,
                              actor="cli:nurse", now=NOW, today=TODAY, config=CONFIG)  # fmt: skip
        return done.result.id, [f.rule for f in done.flags], done.superseded


def test_a_corrected_result_reruns_the_rules_on_the_new_value(engine: Engine) -> None:
    enrol(engine)
    old = store(engine, "platelets", "150", "10^9/L")
    assert flag_states(engine) == []

    new, raised, superseded = correct(engine, old, "50", "10^9/L")

    assert raised and superseded == []
    assert [(rid, status) for rid, _, status in flag_states(engine)] == [(new, FlagStatus.OPEN)]
    with unit_of_work(engine) as session:
        old_row, new_row = session.get(Result, old), session.get(Result, new)
        assert old_row is not None and new_row is not None
        assert (old_row.status, old_row.replaced_by_id) == (ResultStatus.REPLACED, new)
        assert (new_row.value, new_row.status, new_row.collected_on) == (
            "50", ResultStatus.CORRECTED, FEBRUARY)  # fmt: skip
    [entry] = audit_entries(engine, "result.correct")
    assert entry.before["value"] == "150" and entry.before["status"] == "final"
    assert entry.after["value"] == "50" and entry.after["reason"] == "typo"
    assert entry.after["replaced_by"] == new
    cbc = slot(engine, "cbc", FEBRUARY)
    assert cbc is not None and cbc.done_on is None  # cbc needs the other counts too


def test_correcting_away_an_urgent_value_supersedes_its_flag(engine: Engine) -> None:
    enrol(engine)
    old = store(engine, "platelets", "50", "10^9/L")
    [(_, rule, _)] = flag_states(engine)

    _, raised, superseded = correct(engine, old, "150", "10^9/L")

    assert raised == [] and len(superseded) == 1
    assert flag_states(engine) == [(old, rule, FlagStatus.SUPERSEDED)]


def test_a_correction_converts_the_unit_as_result_add_does(engine: Engine) -> None:
    enrol(engine)
    old = store(engine, "creatinine", "70", "umol/L")

    new, _, _ = correct(engine, old, "1.0", "mg/dL")

    with unit_of_work(engine) as session:
        row = session.get(Result, new)
        assert row is not None and row.canonical_value == pytest.approx(88.4)


@pytest.mark.parametrize(
    ("value", "unit", "reason", "problem"),
    [
        ("1.0", "furlongs", "typo", "unit"),
        ("lots", "10^9/L", "typo", "not a number|value"),
        ("150", "10^9/L", "", "reason must not be empty"),
    ],
)
def test_a_bad_correction_of_a_result_changes_nothing(
    engine: Engine, value: str, unit: str, reason: str, problem: str
) -> None:
    enrol(engine)
    old = store(engine, "platelets", "50", "10^9/L")
    before, flags = counts(engine), flag_states(engine)

    with pytest.raises(InvalidInput, match=problem):
        correct(engine, old, value, unit, reason)

    assert counts(engine) == before
    assert flag_states(engine) == flags
    with unit_of_work(engine) as session:
        row = session.get(Result, old)
        assert row is not None and row.status is ResultStatus.FINAL


def test_a_voided_result_no_longer_completes_its_slot_and_its_flag_is_superseded(
    engine: Engine,
) -> None:
    enrol(engine)
    old = store(engine, "creatinine", "300", "umol/L")  # high: a flag; the slot done
    done = slot(engine, "creatinine", FEBRUARY)
    assert done is not None and done.done_on == FEBRUARY
    [(_, rule, status)] = flag_states(engine)
    assert status is FlagStatus.OPEN

    with unit_of_work(engine, PROTOCOL) as session:
        superseded = void_result(session, result_id=old, reason="another patient's sample",
                                 actor="cli:nurse", now=NOW)  # fmt: skip

    assert len(superseded) == 1
    done = slot(engine, "creatinine", FEBRUARY)
    assert done is not None and done.done_on is None and done.completed_on is None
    assert flag_states(engine) == [(old, rule, FlagStatus.SUPERSEDED)]
    [entry] = audit_entries(engine, "result.entered_in_error")
    assert entry.after["reason"] == "another patient's sample"
    assert entry.before["status"] == "final"
    before = counts(engine)
    with pytest.raises(InvalidInput, match="is entered-in-error"):
        with unit_of_work(engine, PROTOCOL) as session:
            void_result(session, result_id=old, reason="again", actor="t", now=NOW)
    with pytest.raises(NotFound, match="unknown result id 999"):
        with unit_of_work(engine, PROTOCOL) as session:
            void_result(session, result_id=999, reason="x", actor="t", now=NOW)
    assert counts(engine) == before


def test_a_replaced_result_cannot_be_corrected_again(engine: Engine) -> None:
    enrol(engine)
    old = store(engine, "platelets", "150", "10^9/L")
    new, _, _ = correct(engine, old, "160", "10^9/L")

    with pytest.raises(InvalidInput, match=f"replaced by result {new}"):
        correct(engine, old, "170", "10^9/L")


# --- reminders follow -----------------------------------------------------------------------------


def test_reminders_follow_a_corrected_course(engine: Engine) -> None:
    """The daily cycle reminds of the corrected schedule's tests, never of the typed one's."""
    from monitor.services.mail.daily import run_daily
    from monitor.store.models import Notice

    clinic = clinic_config()
    enrol(engine, email="alex@example.org")
    with unit_of_work(engine, clinic.catalogue) as session:
        correct_course(session, mrn=MRN, number=1, infused_on=MOVED, reason="typed a week early",
                       actor="t", now=NOW)  # fmt: skip
    moved_due = FEBRUARY + timedelta(days=7)
    on = moved_due - timedelta(days=clinic.reminders.days_before_due)

    run_daily(engine, on=on, config=clinic, now=datetime(2025, 2, 10, 7, tzinfo=UTC))

    with unit_of_work(engine) as session:
        reminded = set(session.scalars(select(Notice.due_on)))
        due = set(session.scalars(select(Slot.due_on)))
    assert moved_due in reminded and MOVED[0] in reminded  # this month's tests, the baseline
    assert reminded <= due
    assert not reminded & {FEBRUARY, COURSE[0]}  # the typed course's dates are gone


def test_a_new_site_is_recorded_for_the_worklist_cache_without_a_rebuild(engine: Engine) -> None:
    """The Today cache patches a patient's line from `slot_changes`: a new site must be there."""
    from monitor.services.schedule.upkeep import latest_change, patients_changed_since

    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        add_patient(session, mrn="N1", name="Nia", email=None, born_on=None, sex=None,
                    site="north", actor="t", now=NOW)  # fmt: skip
    with unit_of_work(engine) as session:
        last = latest_change(session)
    slots = slots_of(engine, MRN)

    edit(engine, site="north")

    moved = patient(engine).id
    with unit_of_work(engine) as session:
        assert patients_changed_since(session, last) == {moved}
    assert slots_of(engine, MRN) == slots


def test_a_patient_may_stay_on_a_site_no_longer_configured(engine: Engine) -> None:
    """The details form sends the current site back with every edit: that is not a move."""
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        both = PatientChanges(site="main", phone="0161 496 0000")
        changed = edit_patient(session, mrn=MRN, changes=both, reason=None, sites=["north"],
                               actor="t", now=NOW)  # fmt: skip
    assert set(changed) == {"phone"}
    with pytest.raises(InvalidInput, match=r"'south' is not a site of this clinic \(north, main\)"):
        with unit_of_work(engine, PROTOCOL) as session:
            edit_patient(session, mrn=MRN, changes=PatientChanges(site="south"), reason=None,
                         sites=["north"], actor="t", now=NOW)  # fmt: skip


def test_notices_of_slots_that_no_longer_exist_stay_harmless(engine: Engine) -> None:
    """Reminders already sent are kept by (protocol, panel, due date); after the course is
    deleted the next daily cycle runs, reminds this patient of nothing and keeps them."""
    from monitor.services.mail.daily import run_daily
    from monitor.store.models import OutboxMessage

    clinic = clinic_config()
    enrol(engine, email="alex@example.org")

    def mail_to_patient() -> int:
        with unit_of_work(engine) as session:
            query = select(func.count()).where(OutboxMessage.patient_id.is_not(None))
            return session.scalar(query) or 0

    first = FEBRUARY - timedelta(days=clinic.reminders.days_before_due)
    run_daily(engine, on=first, config=clinic, now=datetime(2025, 2, 3, 7, tzinfo=UTC))
    notices, mails = counts(engine)["notices"], mail_to_patient()
    assert notices > 0 and mails > 0
    with unit_of_work(engine, clinic.catalogue) as session:
        delete_course(session, mrn=MRN, number=1, reason="wrong patient", actor="t", now=NOW)

    later = FEBRUARY + timedelta(days=8)  # an overdue reminder would go out on this day
    report = run_daily(engine, on=later, config=clinic, now=datetime(2025, 2, 18, 7, tzinfo=UTC))

    assert report.set_aside == []
    assert counts(engine)["notices"] == notices
    assert mail_to_patient() == mails
