"""The Today lists kept between requests: patching the changed patients gives exactly what a
full recomputation gives."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from monitor.config import Config
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient, change_status
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.web.cache import WorklistCache, data_stamp
from monitor.web.worklist import take_snapshot
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
