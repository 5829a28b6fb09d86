"""The overdue list in SQL agrees with the pure slot statuses (SPEC §3.2, §3.3, §9).

`store.queries.overdue_list` answers from the stored slot rows (a cache rebuilt on every change);
the pure core computes every status from the infusion dates, results, waivers and stops. For a
small clinic built through the services (courses recorded out of order, on-time, late and partial
results, a waiver, stops) the list must hold exactly the pure `overdue` slots of the patients
active on the date, with the pure count of `missed` slots, on every 5th day for 5 years; and
`services.schedule.view.patient_schedule` must give the pure statuses too.
"""

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.courses import Course
from monitor.domain.status import is_cancelled_by_stop, slot_status
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient, change_status
from monitor.services.results.recording import ResultIn, add_results
from monitor.services.schedule.slots import counted_results, waived_keys
from monitor.services.schedule.view import patient_schedule
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.store.queries import find_patient, overdue_list
from tests.reference_schedule import build_schedule, plan_course_slots

CONFIG = Config()
PROTOCOL = CONFIG.catalogue
REFERENCE = CONFIG.protocol.to_protocol()
NOW = datetime(2030, 1, 1, tzinfo=UTC)
TODAY = NOW.date()
FIRST_DAY = date(2019, 11, 1)
DATES = [FIRST_DAY + timedelta(days=5 * k) for k in range(5 * 365 // 5 + 1)]

VALUES = {
    "platelets": ("210", "10^9/L"),
    "neutrophils": ("3.0", "10^9/L"),
    "hemoglobin": ("135", "g/L"),
    "creatinine": ("70", "umol/L"),
    "urine_rbc": ("1", "/HPF"),
    "urine_protein": ("negative", None),
    "alt": ("20", "U/L"),
    "bilirubin": ("10", "umol/L"),
    "tsh": ("2.0", "mIU/L"),
    "skin_exam": ("normal", None),
}


def days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=n) for n in range(count)]


# mrn -> (site, courses, (status, effective date) or None, share of slots with results)
CLINIC = {
    "P01": ("main", [days(date(2020, 1, 6), 5), days(date(2021, 2, 1), 3)], None, 0.8),
    "P02": ("north", [days(date(2021, 6, 14), 5)], None, 0.5),
    "P03": ("main", [days(date(2020, 3, 2), 5)], ("withdrawn", date(2022, 3, 1)), 0.7),
    "P04": (  # courses recorded out of order: the first one last
        "main",
        [days(date(2022, 6, 6), 3), days(date(2020, 12, 7), 3), days(date(2019, 12, 2), 4)],
        None,
        0.9,
    ),
    "P05": ("main", [], None, 0.0),
    "P06": ("north", [[date(2020, 1, 31)]], ("deceased", date(2023, 1, 15)), 0.6),
}
WAIVED = ("P06", "cbc", date(2020, 2, 29))  # 31 January + 1 month


def synthetic_results(rng: random.Random, mrn: str, courses: list[list[date]], share: float):
    """On time, late, partial or missing, slot by slot."""
    batch = []
    for slot in build_schedule([Course(tuple(c)) for c in sorted(courses)], REFERENCE):
        roll = rng.random()
        if roll > share or slot.window_start > DATES[-1]:  # later results change nothing checked
            continue
        analytes = REFERENCE.panel(slot.panel).analytes
        span = (slot.window_end - slot.window_start).days
        collected = slot.window_start + timedelta(days=rng.randint(0, span))
        if roll > share * 0.85:
            collected = slot.window_end + timedelta(days=rng.randint(1, 12))
        elif roll > share * 0.75:
            analytes = analytes[:1]
        for analyte in analytes:
            value, unit = VALUES[analyte]
            batch.append(ResultIn(mrn, analyte, value, unit, collected, source="test"))
    return batch


@pytest.fixture
def clinic(engine: Engine) -> Engine:
    rng = random.Random(20260301)
    with unit_of_work(engine, PROTOCOL) as session:
        for mrn, (site, courses, stop, share) in CLINIC.items():
            add_patient(
                session,
                mrn=mrn,
                name=f"Patient {mrn}",
                email=None,
                born_on=None,
                sex="F",
                site=site,
                actor="test",
                now=NOW,
            )
            for infused_on in courses:
                add_course(
                    session,
                    mrn=mrn,
                    infused_on=infused_on,
                    actor="test",
                    now=NOW,
                )
            if batch := synthetic_results(rng, mrn, courses, share):
                add_results(
                    session,
                    batch,
                    today=TODAY,
                    now=NOW,
                    rules=CONFIG.rule_settings,
                )
            if stop is not None:
                change_status(
                    session,
                    mrn=mrn,
                    status=stop[0],
                    on=stop[1],
                    reason=None,
                    actor="test",
                    now=NOW,
                )
        mrn, panel, due_on = WAIVED
        waive_slot(
            session,
            mrn=mrn,
            panel=panel,
            due_on=due_on,
            by="nurse",
            reason="test",
            now=NOW,
        )
    return engine


def is_active(mrn: str, on: date) -> bool:
    stop = CLINIC[mrn][2]
    return stop is None or stop[1] > on


class PureStatuses:
    """Each patient's slots as the pure core sees them, from the clinic's own infusion dates and
    stops (not from what the database stored), matched once, with a status per date."""

    def __init__(self, session: Session) -> None:
        self.slots = {}
        for mrn, (_, courses, stop, _) in CLINIC.items():
            patient_id = find_patient(session, mrn).id
            ordered = [Course(tuple(dates)) for dates in sorted(courses)]
            progress = plan_course_slots(ordered, counted_results(session, patient_id), PROTOCOL)
            waived = waived_keys(session, patient_id)
            stopped_on = stop[1] if stop else None
            self.slots[mrn] = [
                (
                    item,
                    (item.slot.protocol, item.slot.panel, item.slot.due_on) in waived,
                    is_cancelled_by_stop(item.slot.due_on, stopped_on),
                )
                for item in progress
            ]

    def of(self, mrn: str, on: date, *, ended: bool = False) -> list[tuple[str, date, str]]:
        """(panel, due_on, status) of every slot (only of those whose window ended before `on`
        when `ended`: no other slot can be overdue or missed)."""
        return [
            (
                item.slot.panel,
                item.slot.due_on,
                slot_status(
                    on=on,
                    window_start=item.slot.window_start,
                    window_end=item.slot.window_end,
                    next_window_start=item.next_window_start,
                    done_on=item.done_on,
                    completed_on=item.completed_on,
                    is_waived=waived,
                    is_cancelled=cancelled,
                ).value,
            )
            for item, waived, cancelled in self.slots[mrn]
            if not ended or item.slot.window_end < on
        ]

    def overdue(self, on: date) -> tuple[dict[tuple[str, str, date], int], int]:
        """(mrn, panel, due_on) of every overdue slot of an active patient -> missed slots of
        that panel; and how many overdue slots of stopped patients were left out."""
        expected, left_out = {}, 0
        for mrn in CLINIC:
            slots = self.of(mrn, on, ended=True)
            overdue = [(panel, due_on) for panel, due_on, status in slots if status == "overdue"]
            if not is_active(mrn, on):
                left_out += len(overdue)
                continue
            missed = Counter(panel for panel, _, status in slots if status == "missed")
            expected.update({(mrn, panel, due_on): missed[panel] for panel, due_on in overdue})
        return expected, left_out


def test_the_overdue_query_agrees_with_the_pure_statuses_every_5_days_for_5_years(clinic):
    rank = {name: n for n, name in enumerate(PROTOCOL.panel_names)}
    seen_overdue = seen_missed = seen_stopped = 0
    with unit_of_work(clinic) as session:
        pure = PureStatuses(session)
        for n, on in enumerate(DATES):
            if n % 36 == 0:  # the hoisted computation is patient_schedule's
                for mrn in CLINIC:
                    view = patient_schedule(session, mrn, on, PROTOCOL)
                    got = sorted((s.panel, s.due_on, s.status.value) for s in view.slots)
                    assert got == sorted(pure.of(mrn, on)), f"{mrn} as of {on}"

            rows = overdue_list(session, on, PROTOCOL.panel_ranks())

            got = {(r.mrn, r.panel, r.due_on): r.missed for r in rows}
            expected, left_out = pure.overdue(on)
            assert len(got) == len(rows), f"duplicate rows on {on}"
            assert got == expected, f"as of {on}"
            assert WAIVED not in got
            assert all(r.days_overdue == (on - r.due_on).days for r in rows)
            order = [(-r.days_overdue, r.mrn, rank[r.panel]) for r in rows]
            assert order == sorted(order), f"order on {on}"
            if n % 10 == 0:
                north = overdue_list(session, on, PROTOCOL.panel_ranks(), site="north")
                assert north == [r for r in rows if r.site == "north"]
            seen_overdue += len(rows)
            seen_missed += sum(r.missed for r in rows)
            seen_stopped += left_out
        waiver_status = {
            (panel, due_on): status for panel, due_on, status in pure.of("P06", DATES[-1])
        }
    # the clinic exercises the interesting cases
    assert seen_overdue > 100
    assert seen_missed > 100
    assert seen_stopped > 0  # stopped patients' overdue slots are left off the list
    assert waiver_status[WAIVED[1:]] == "waived"
