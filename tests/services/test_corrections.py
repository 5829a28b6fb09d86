"""Corrections and withdrawals, called directly: the earlier row is kept and points at its
successor, its open flags are superseded, the schedule stops counting a withdrawn result, and
each change is audited."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select

from monitor.domain.vocabulary import FlagStatus, ResultStatus
from monitor.services.results.corrections import replace_result, withdraw_result
from monitor.services.results.intake import record_results
from monitor.services.results.recording import Recorded
from monitor.store.db import unit_of_work
from monitor.store.models import Flag, Result
from tests.services.clinic import (
    CONFIG,
    FEBRUARY,
    NOW,
    PROTOCOL,
    TODAY,
    audit_entries,
    enrol,
    result_in,
    slot,
)

ON = date(2025, 2, 12)  # in the February window


def record(engine: Engine, value: str) -> Recorded:
    with unit_of_work(engine, PROTOCOL) as session:
        given = result_in("platelets", value, "10^9/L", ON)
        return record_results(session, [given], today=TODAY, now=NOW, config=CONFIG)


def flags_by_result(engine: Engine) -> dict[int, list[tuple[str, FlagStatus]]]:
    with unit_of_work(engine) as session:
        found: dict[int, list[tuple[str, FlagStatus]]] = {}
        for flag in session.scalars(select(Flag).order_by(Flag.id)):
            found.setdefault(flag.result_id, []).append((flag.rule, flag.status))
        return found


def test_a_correction_keeps_the_old_row_points_at_the_new_and_supersedes_its_flags(
    engine: Engine,
) -> None:
    enrol(engine)
    old_id = record(engine, "40").results[0].id  # emergency low
    with unit_of_work(engine, PROTOCOL) as session:
        old = session.get(Result, old_id)
        assert old is not None
        old.status = ResultStatus.REPLACED
        session.flush()
        new = record_results(
            session, [result_in("platelets", "220", "10^9/L", ON)],
            today=TODAY, now=NOW, config=CONFIG,
        ).results[0]  # fmt: skip
        superseded = replace_result(session, old, new, ResultStatus.FINAL, NOW, "import:lab")
        new_id = new.id
    with unit_of_work(engine) as session:
        old = session.get(Result, old_id)
        assert old is not None
        assert (old.status, old.replaced_by_id) == (ResultStatus.REPLACED, new_id)
    assert flags_by_result(engine) == {old_id: [("platelets.low", FlagStatus.SUPERSEDED)]}
    [entry] = audit_entries(engine, "result.correct")
    assert (entry.actor, entry.entity_id) == ("import:lab", old_id)
    assert entry.before is not None and entry.before["status"] == "final"
    assert entry.after is not None
    assert (entry.after["value"], entry.after["superseded_flags"]) == ("220", superseded)
    assert entry.after["rules_firing"] == []


def test_a_correction_that_still_fires_leaves_one_open_flag_on_the_new_result(
    engine: Engine,
) -> None:
    enrol(engine)
    old_id = record(engine, "40").results[0].id
    with unit_of_work(engine, PROTOCOL) as session:
        old = session.get(Result, old_id)
        assert old is not None
        old.status = ResultStatus.REPLACED
        session.flush()
        new = record_results(
            session, [result_in("platelets", "45", "10^9/L", ON)],
            today=TODAY, now=NOW, config=CONFIG,
        ).results[0]  # fmt: skip
        replace_result(session, old, new, ResultStatus.FINAL, NOW, "import:lab")
        new_id = new.id
    found = flags_by_result(engine)
    assert found[old_id] == [("platelets.low", FlagStatus.SUPERSEDED)]
    assert found[new_id] == [("platelets.low", FlagStatus.OPEN)]
    [entry] = audit_entries(engine, "result.correct")
    assert entry.after is not None and entry.after["rules_firing"] == ["platelets.low"]


def test_a_withdrawn_result_stops_counting_for_its_slot_and_its_flags_close(
    engine: Engine,
) -> None:
    enrol(engine)
    low = record(engine, "40").results[0].id
    with unit_of_work(engine, PROTOCOL) as session:
        given = result_in("creatinine", "72", "umol/L", ON)
        kidney = record_results(session, [given], today=TODAY, now=NOW, config=CONFIG)
    done = slot(engine, "creatinine", FEBRUARY)
    assert done is not None and done.done_on == ON
    for result_id in (low, kidney.results[0].id):
        with unit_of_work(engine, PROTOCOL) as session:
            row = session.get(Result, result_id)
            assert row is not None
            withdraw_result(session, row, NOW, "import:lab")
    with unit_of_work(engine) as session:
        statuses = set(session.scalars(select(Result.status)))
    assert statuses == {ResultStatus.ENTERED_IN_ERROR}  # kept in the history
    after = slot(engine, "creatinine", FEBRUARY)
    assert after is not None and after.done_on is None
    assert flags_by_result(engine) == {low: [("platelets.low", FlagStatus.SUPERSEDED)]}
    entries = audit_entries(engine, "result.entered_in_error")
    assert [entry.entity_id for entry in entries] == [low, kidney.results[0].id]
    assert entries[0].before is not None and entries[0].before["status"] == "final"
    assert [entry.after for entry in entries] == [
        {"status": "entered-in-error", "superseded_flags": flags_of(engine, low)},
        {"status": "entered-in-error", "superseded_flags": []},
    ]


def flags_of(engine: Engine, result_id: int) -> list[int]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Flag.id).where(Flag.result_id == result_id)))
