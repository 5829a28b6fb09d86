"""A change to one protocol's definition makes only its patients' schedules stale, and the
rebuild recomputes only them (SPEC §10.3, issue 13 item 5); the others keep their stamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from monitor.config import Config, parse_config
from monitor.domain.schedule import add_months
from monitor.services.mail.daily import run_daily
from monitor.services.people import courses, patients
from monitor.services.people.treatments import start_treatment
from monitor.services.schedule.fingerprints import count_stale_patients, rebuild_schedules
from monitor.services.schedule.slots import KEEP_AHEAD_MONTHS
from monitor.store.db import unit_of_work
from monitor.store.models import Patient, Slot, Treatment

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def config(every: str) -> Config:
    return parse_config(
        {
            "protocols": {
                "site_cont": {
                    "kind": "continuous",
                    "panels": {"lft": {"analytes": ["alt"], "phases": [{"every": every}]}},
                }
            }
        }
    )


def test_changing_one_protocol_rebuilds_only_the_patients_on_it(engine) -> None:
    before, after = config("1m"), config("2m")
    with unit_of_work(engine, before.catalogue) as session:
        for mrn in ("ALEM", "CONT", "BOTH"):
            patients.add_patient(
                session, mrn=mrn, name=f"P {mrn}", email=None, born_on=None, sex=None,
                site="main", actor="t", now=NOW,
            )  # fmt: skip
        for mrn in ("ALEM", "BOTH"):
            dates = [date(2024, 6, 3) + timedelta(days=d) for d in range(5)]
            courses.add_course(session, mrn=mrn, infused_on=dates, actor="t", now=NOW)
        for mrn in ("CONT", "BOTH"):
            start_treatment(
                session, mrn=mrn, protocol="site_cont", started_on=date(2025, 1, 6), actor="t",
                now=NOW,
            )  # fmt: skip

    assert before.catalogue.fingerprint("alemtuzumab") == after.catalogue.fingerprint("alemtuzumab")
    with unit_of_work(engine) as session:
        assert count_stale_patients(session, before.catalogue) == 0
        assert count_stale_patients(session, after.catalogue) == 2  # CONT and BOTH
        query = select(Treatment.id, Treatment.schedule_fingerprint)
        stamps = {treatment_id: stamp for treatment_id, stamp in session.execute(query)}

    done = rebuild_schedules(engine, after.catalogue, only_stale=True)

    assert (done.done, done.total) == (2, 2)
    with unit_of_work(engine) as session:
        assert count_stale_patients(session, after.catalogue) == 0
        rows = session.execute(
            select(Treatment.id, Treatment.protocol, Treatment.schedule_fingerprint)
        ).all()
        for treatment_id, protocol, stamp in rows:
            assert stamp == after.catalogue.fingerprint(protocol)
            if protocol == "alemtuzumab":
                assert stamp == stamps[treatment_id]
        cont = session.scalars(
            select(Slot.due_on)
            .join(Patient, Patient.id == Slot.patient_id)
            .where(Patient.mrn == "CONT", Slot.protocol == "site_cont")
            .order_by(Slot.due_on)
        ).all()
    assert cont[:3] == [date(2025, 3, 6), date(2025, 5, 6), date(2025, 7, 6)]  # every 2 months


def test_the_daily_cycle_plans_an_open_series_further_before_it_runs_out(engine) -> None:
    """An open, uncapped treatment is planned PLAN_AHEAD_MONTHS ahead of its rebuild; a daily
    cycle on a day with less than KEEP_AHEAD_MONTHS left rebuilds it from that day."""
    clinic = config("1m")
    with unit_of_work(engine, clinic.catalogue) as session:
        patients.add_patient(
            session, mrn="OPEN", name="P Open", email=None, born_on=None, sex=None,
            site="main", actor="t", now=NOW,
        )  # fmt: skip
        start_treatment(
            session, mrn="OPEN", protocol="site_cont", started_on=date(2025, 1, 6), actor="t",
            now=NOW,
        )  # fmt: skip
    with unit_of_work(engine) as session:
        planned = session.scalar(select(Treatment.planned_until_on))
    assert planned is not None
    later = add_months(planned, -KEEP_AHEAD_MONTHS + 1)  # 12 months of plan left on that day

    run_daily(engine, on=later, config=clinic, now=NOW)

    with unit_of_work(engine) as session:
        extended = session.scalar(select(Treatment.planned_until_on))
        last_due = session.scalar(select(func.max(Slot.due_on)))
    assert extended is not None and extended > planned
    assert last_due is not None and last_due > planned
