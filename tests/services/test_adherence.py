"""The adherence report's counts agree with the pure statuses, for generated clinics.

Hypothesis draws a seeded clinic (tests/reports_clinic.py: three sites, alemtuzumab courses and
continuous protocols, stops, results on time, late, partial, early or missing, waivers), a
period and a report date on and beside the days statuses turn on; the report counted in SQL is
compared with `domain.status.slot_status` of every stored slot, grouped in Python, by month and
by patient, with and without a site and a protocol, and so is the histogram of days past due.
On SQLite and PostgreSQL (the `engine` fixture).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from monitor.domain.status import SlotStatus, stored_status
from monitor.errors import InvalidInput
from monitor.services.reports.adherence import (
    LATENESS_BINS,
    Counts,
    Outcome,
    ReportBy,
    adherence_report,
    outcome_of,
)
from monitor.services.reports.period import ReportFilter
from monitor.services.reports.rems import rems_list
from monitor.store.db import unit_of_work
from monitor.store.models import Patient, Slot
from tests.reports_clinic import CATALOGUE, SITES, store_clinic

SLOT_FIELDS = (
    Slot.protocol,
    Slot.panel,
    Slot.due_on,
    Slot.window_start,
    Slot.window_end,
    Slot.next_window_start,
    Slot.done_on,
    Slot.completed_on,
    Slot.is_waived,
    Slot.is_cancelled,
    Patient.mrn,
    Patient.site,
)


def stored_slots(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        query = select(*SLOT_FIELDS).join(Patient, Patient.id == Slot.patient_id)
        return list(connection.execute(query))


def report_dates(slots: list[Any], rng: random.Random) -> list[date]:
    """Days on and beside those a status turns on (window ends, next windows, completions)."""
    days = sorted(
        {
            day + timedelta(days=k)
            for slot in slots
            for day in (slot.window_end, slot.next_window_start, slot.done_on, slot.completed_on)
            if day is not None
            for k in (-1, 0, 1)
        }
    )
    return rng.sample(days, min(3, len(days)))


def selected(slots: list[Any], wanted: ReportFilter) -> list[Any]:
    """The slots the report is about: due in the period, at the site, on the protocol."""
    return [
        slot
        for slot in slots
        if wanted.first_on <= slot.due_on <= wanted.last_on
        and wanted.site in (None, slot.site)
        and wanted.protocol in (None, slot.protocol)
    ]


def expected_counts(
    slots: list[Any], wanted: ReportFilter, on: date, by: ReportBy
) -> dict[tuple[str, ...], Counts]:
    """The report's groups as the pure statuses have them, counted slot by slot."""
    tally: dict[tuple[str, ...], Counter[str]] = {}
    for slot in selected(slots, wanted):
        head = slot.due_on.strftime("%Y-%m") if by is ReportBy.MONTH else slot.mrn
        key = (head, slot.site, slot.protocol, slot.panel)
        counted = tally.setdefault(key, Counter())
        counted["due"] += 1
        counted[outcome_of(stored_status(slot, on)).value] += 1
    return {key: Counts(**counted) for key, counted in tally.items()}


def expected_lateness(slots: list[Any], wanted: ReportFilter, on: date) -> list[tuple[int, int]]:
    bins = [[0, 0] for _ in LATENESS_BINS]
    for slot in selected(slots, wanted):
        status = stored_status(slot, on)
        if status is SlotStatus.LATE:
            days, column = (slot.completed_on - slot.due_on).days, 0
        elif status in (SlotStatus.OVERDUE, SlotStatus.MISSED):
            days, column = (on - slot.due_on).days, 1
        else:
            continue
        index = next(
            i for i, (low, high) in enumerate(LATENESS_BINS) if high is None or days <= high
        )
        assert days >= LATENESS_BINS[0][0], "a slot not done on time is at least a day past due"
        bins[index][column] += 1
    return [(late, not_done) for late, not_done in bins]


def reported(engine: Engine, wanted: ReportFilter, on: date, by: ReportBy) -> Any:
    with unit_of_work(engine, CATALOGUE) as session:
        return adherence_report(session, CATALOGUE, wanted, on, by)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(1, 8),
    start=st.dates(date(2021, 1, 1), date(2026, 6, 1)),
    months=st.integers(0, 30),
)
def test_report_counts_agree_with_the_pure_statuses(
    engine: Engine, seed: int, size: int, start: date, months: int
) -> None:
    clinic = store_clinic(engine, seed, size)
    slots = stored_slots(engine)
    rng = random.Random(seed)
    last = start + timedelta(days=30 * months + rng.randint(0, 29))
    site = rng.choice([None, *SITES])
    protocol = rng.choice([None, None, "alemtuzumab", "dimethyl_fumarate"])
    for on in report_dates(slots, rng):
        for wanted in (ReportFilter(start, last), ReportFilter(start, last, site, protocol)):
            if wanted.site is not None and wanted.site not in {p.site for p in clinic}:
                continue
            for by in ReportBy:
                report = reported(engine, wanted, on, by)
                got = {
                    (row.month or row.mrn or "", row.site, row.protocol, row.panel): row.counts
                    for row in report.rows
                }
                assert got == expected_counts(slots, wanted, on, by), f"as of {on}, {wanted}"
                for row in report.rows:  # each slot in exactly one column
                    c = row.counts
                    columns = (c.done, c.late, c.overdue, c.missed, c.waived, c.cancelled, c.open)
                    assert sum(columns) == c.due
            lateness = [(b.late, b.not_done) for b in report.lateness]
            assert lateness == expected_lateness(slots, wanted, on), f"as of {on}, {wanted}"


def test_the_percentages_leave_out_what_cannot_be_judged() -> None:
    counts = Counts(due=10, done=6, late=1, overdue=0, missed=1, waived=1, cancelled=0, open=1)
    assert counts.assessed == 8
    assert counts.on_time_pct == 75.0
    assert counts.completed_pct == 87.5
    assert Counts(due=2, waived=1, open=1).on_time_pct is None


def test_the_rems_list_has_every_due_slot_once(engine: Engine) -> None:
    store_clinic(engine, seed=7, size=12)
    slots = stored_slots(engine)
    wanted = ReportFilter(date(2022, 1, 1), date(2025, 12, 31))
    on = date(2025, 6, 1)
    with unit_of_work(engine, CATALOGUE) as session:
        listed = rems_list(session, CATALOGUE, wanted, on)
    assert listed.protocol == "alemtuzumab"
    got = Counter(
        (row.mrn, slot.panel, slot.due_on, slot.outcome, slot.completed_on)
        for row in listed.rows
        for slot in row.slots
        if row.month == slot.due_on.strftime("%Y-%m")
    )
    want = Counter(
        (
            s.mrn,
            s.panel,
            s.due_on,
            outcome_of(stored_status(s, on)),
            s.completed_on if s.completed_on is not None and s.completed_on <= on else None,
        )
        for s in slots
        if s.protocol == "alemtuzumab" and wanted.first_on <= s.due_on <= wanted.last_on
    )
    assert got == want and got
    months = [(row.mrn, row.month) for row in listed.rows]
    assert len(months) == len(set(months)), "one row per patient and month"
    assert any(slot.outcome is Outcome.DONE for row in listed.rows for slot in row.slots)


@pytest.mark.parametrize(
    ("wanted", "words"),
    [
        (ReportFilter(date(2025, 2, 1), date(2025, 1, 31)), "before it starts"),
        (ReportFilter(date(2025, 1, 1), date(2025, 1, 31), site="nowhere"), "unknown site"),
        (ReportFilter(date(2025, 1, 1), date(2025, 1, 31), protocol="nope"), "unknown protocol"),
    ],
)
def test_bad_filters_are_refused(engine: Engine, wanted: ReportFilter, words: str) -> None:
    store_clinic(engine, seed=1, size=2)
    with pytest.raises(InvalidInput, match=words), unit_of_work(engine, CATALOGUE) as session:
        adherence_report(session, CATALOGUE, wanted, date(2025, 6, 1))
