"""The Today lists kept between requests: patching the changed patients gives exactly what a
full recomputation gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, event

from monitor.config import Config
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient, change_status
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.web.cache import WorklistCache, data_stamp
from monitor.web.worklist import Snapshot, take_snapshot
from tests.web.clinic import NOW, TODAY, Clinic


def test_patching_changed_patients_equals_a_full_recompute(
    engine: Engine, config: Config, clinic: Clinic
) -> None:
    protocol = config.catalogue
    cache = WorklistCache()
    with unit_of_work(engine) as session:
        before = cache.get(session, TODAY, protocol)
    with unit_of_work(engine, protocol) as session:
        result = ResultIn(clinic.alex, "creatinine", "70", "umol/L", TODAY)
        record_results(session, [result], today=TODAY, now=NOW, config=config)
        due = next(line for line in before.overdue if line.mrn == clinic.robin).items[0]
        waive_slot(
            session,
            mrn=clinic.robin,
            panel=due.panel,
            due_on=due.due_on,
            by="t",
            reason="r",
            now=NOW,
        )
        change_status(
            session,
            mrn=clinic.probe,
            status="withdrawn",
            on=TODAY,
            reason=None,
            actor="t",
            now=NOW,
        )
        add_patient(
            session,
            mrn="E500",
            name="Kim Lane",
            email=None,
            born_on=None,
            sex=None,
            site="east",
            actor="t",
            now=NOW,
        )
        first = TODAY - timedelta(days=31)
        add_course(
            session,
            mrn="E500",
            infused_on=[first + timedelta(days=d) for d in range(3)],
            actor="t",
            now=NOW,
        )
    with unit_of_work(engine) as session:
        after = cache.get(session, TODAY, protocol)
        full = take_snapshot(session, TODAY, protocol, data_stamp(session))
    assert after.taken_at == before.taken_at, "patched, not recomputed"
    assert after.overdue == full.overdue and after.week == full.week
    assert after.sites == full.sites == ["east", "main", "north"]
    assert after.overdue != before.overdue and after.week != before.week


def test_a_new_day_recomputes_everything(engine: Engine, config: Config, clinic: Clinic) -> None:
    cache = WorklistCache()
    protocol = config.catalogue
    with unit_of_work(engine) as session:
        today = cache.get(session, TODAY, protocol)
        tomorrow = cache.get(session, TODAY + timedelta(days=1), protocol)
    assert tomorrow.on == TODAY + timedelta(days=1) and tomorrow.taken_at > today.taken_at


def test_a_change_committed_after_a_later_one_is_still_patched(
    engine: Engine, config: Config, clinic: Clinic
) -> None:
    """PostgreSQL gives a change record its id when it is inserted: a writer whose record has
    the lower id can commit after one with a higher id has been read. Its patient is patched
    once it commits, not left stale until the next full recompute."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its ids are given in commit order")
    protocol = config.catalogue
    cache = WorklistCache()
    with unit_of_work(engine) as session:
        before = cache.get(session, TODAY, protocol)
    seen: dict[str, Snapshot] = {}

    def meanwhile(_connection: object) -> None:
        """Run inside the first writer's commit: its record is inserted, not committed."""
        if seen:
            return
        seen["started"] = before
        with unit_of_work(engine, protocol) as other:
            change_status(
                other, mrn=clinic.probe, status="withdrawn", on=TODAY, reason=None, actor="t",
                now=NOW,
            )  # fmt: skip
        with unit_of_work(engine) as reader:
            seen["between"] = cache.get(reader, TODAY, protocol)

    event.listen(engine, "commit", meanwhile)
    try:
        with unit_of_work(engine, protocol) as session:
            result = ResultIn(clinic.alex, "creatinine", "70", "umol/L", TODAY)
            record_results(session, [result], today=TODAY, now=NOW, config=config)
    finally:
        event.remove(engine, "commit", meanwhile)
    between = seen["between"]
    assert clinic.probe not in {line.mrn for line in between.overdue}
    assert _line(between, clinic.alex) == _line(before, clinic.alex), "not committed yet"
    with unit_of_work(engine) as session:
        after = cache.get(session, TODAY, protocol)
        full = take_snapshot(session, TODAY, protocol, data_stamp(session))
    assert after.taken_at == before.taken_at, "patched, not recomputed"
    assert _line(after, clinic.alex) != _line(before, clinic.alex)
    assert after.overdue == full.overdue and after.week == full.week
    assert not after.unsettled


def _line(snap: Snapshot, mrn: str) -> object:
    return next((line for line in snap.overdue if line.mrn == mrn), None)


def test_the_safety_net_recompute_runs_behind_the_pages(
    engine: Engine, config: Config, clinic: Clinic
) -> None:
    """Lists older than `full_every_seconds` are recomputed in a thread of their own while the
    page is served from the patched ones; the recomputed lists then replace them."""
    protocol = config.catalogue
    cache = WorklistCache(full_every_seconds=0, sessions=lambda: unit_of_work(engine))
    with unit_of_work(engine) as session:
        first = cache.get(session, TODAY, protocol)
    with unit_of_work(engine, protocol) as session:
        result = ResultIn(clinic.alex, "creatinine", "70", "umol/L", TODAY)
        record_results(session, [result], today=TODAY, now=NOW, config=config)
    with unit_of_work(engine) as session:
        served = cache.get(session, TODAY, protocol)
        full = take_snapshot(session, TODAY, protocol, data_stamp(session))
    assert served.taken_at == first.taken_at, "patched while the recompute runs"
    assert served.overdue == full.overdue != first.overdue
    cache.refreshed()
    with unit_of_work(engine) as session:
        later = cache.get(session, TODAY, protocol)
    cache.refreshed()
    assert later.taken_at > first.taken_at, "the recomputed lists replaced the patched ones"
    assert later.overdue == full.overdue and later.week == full.week
