"""Five years of daily cycles for a small clinic, one day at a time (issue 4's simulation).

The clock is frozen and moved a day at a time; each day the results collected that day arrive,
then the daily cycle runs as the daemon would (today from the clock, in the clinic's zone). The
expected emails are worked out here from SPEC §3 and §5 directly, not from the code under test.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from freezegun import freeze_time
from sqlalchemy import Engine, select

from monitor import clock
from monitor.services.mail.daily import run_daily
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient, change_status
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.store.db import unit_of_work
from monitor.store.models import Notice, OutboxMessage, Patient
from tests.conftest import clinic_config

START = date(2024, 1, 1)
END = date(2028, 12, 31)
GAP = (date(2026, 5, 3), date(2026, 5, 12))  # the daemon was down: no runs on these days
CONFIG = clinic_config()
BLOOD = ("platelets", "neutrophils", "hemoglobin", "creatinine", "alt", "bilirubin")
NORMAL = {
    "platelets": ("250", "10^9/L"),
    "neutrophils": ("3.5", "10^9/L"),
    "hemoglobin": ("140", "g/L"),
    "creatinine": ("70", "umol/L"),
    "alt": ("22", "U/L"),
    "bilirubin": ("9", "umol/L"),
    "urine_rbc": ("0", "/HPF"),
    "urine_protein": ("negative", None),
    "tsh": ("1.5", "mIU/L"),
    "skin_exam": ("normal", None),
}
MONTHLY = ("platelets", "neutrophils", "hemoglobin", "creatinine", "alt", "bilirubin",
           "urine_rbc", "urine_protein")  # fmt: skip

# Course 1 for everyone: 5 days from 5 February 2024 (last infusion 9 February).
COURSE_1 = [date(2024, 2, 5) + timedelta(days=d) for d in range(5)]
COURSE_2 = [date(2025, 2, 17) + timedelta(days=d) for d in range(3)]  # retreatment, ends 19 Feb
COURSE_LAPSED = [date(2024, 2, 23) + timedelta(days=d) for d in range(5)]  # ends 27 February


def monthly_due_dates(anchor: date, until: date) -> list[date]:
    """SPEC §3.1 by hand: anchor + k months, k = 1, 2, ... up to 48 months and `until`."""
    dates, k = [], 1
    while (due := anchor + relativedelta(months=k)) <= min(
        anchor + relativedelta(months=48), until
    ):
        if due < until:
            dates.append(due)
        k += 1
    return dates


def panels_due_on(anchor: date, due: date) -> set[str]:
    """Which recurring panels fall on a monthly due date (tsh every 3, skin every 12 months)."""
    months = (due.year - anchor.year) * 12 + due.month - anchor.month
    panels = {"cbc", "creatinine", "urinalysis", "lft"}
    if months % 3 == 0:
        panels.add("tsh")
    if months % 12 == 0:
        panels.add("skin")
    return panels


def draws_on(day: date, analytes: tuple[str, ...]) -> list[tuple[date, str]]:
    return [(day, analyte) for analyte in analytes]


def full_draw(anchor: date, due: date) -> tuple[str, ...]:
    extra = []
    panels = panels_due_on(anchor, due)
    if "tsh" in panels:
        extra.append("tsh")
    if "skin" in panels:
        extra.append("skin_exam")
    return (*MONTHLY, *extra)


BASELINE = (*MONTHLY, "tsh", "skin_exam")


def adherent_draws(first: date, last: date, until: date, skip: set[date]) -> list[tuple[date, str]]:
    """A baseline draw on the first infusion, then every test on each due date."""
    draws = draws_on(first, BASELINE)
    for due in monthly_due_dates(last, until):
        if due not in skip:
            draws += draws_on(due, full_draw(last, due))
    return draws


PATIENTS = {
    # mrn: (email, courses, draws, stop)
    "ADHERENT": (
        "a@example.org",
        [COURSE_1],
        adherent_draws(COURSE_1[0], COURSE_1[-1], END, set()),
        None,
    ),
    "MISSES-JUNE": (
        "b@example.org",
        [COURSE_1],
        adherent_draws(COURSE_1[0], COURSE_1[-1], END, {date(2024, 6, 9)}),
        None,
    ),
    "RETREATED": (
        "c@example.org",
        [COURSE_1, COURSE_2],
        adherent_draws(COURSE_1[0], COURSE_1[-1], COURSE_2[0], set())
        + adherent_draws(COURSE_2[0], COURSE_2[-1], END, set()),
        None,
    ),
    "WITHDRAWN": ("d@example.org", [COURSE_1], [], ("withdrawn", date(2024, 9, 1))),
    "DECEASED": ("e@example.org", [COURSE_1, COURSE_2], [], ("deceased", date(2025, 6, 15))),
    "NO-EMAIL": (None, [COURSE_1], [], None),
    # Course ends on the 27th; all tests on time until April 2026, then nothing more.
    "LAPSED": (
        "f@example.org",
        [COURSE_LAPSED],
        adherent_draws(COURSE_LAPSED[0], COURSE_LAPSED[-1], date(2026, 4, 20), set()),
        None,
    ),
}


def set_up_clinic(engine: Engine) -> None:
    now = datetime(2023, 12, 1, 9, tzinfo=UTC)
    with unit_of_work(engine, CONFIG.catalogue) as session:
        for mrn, (email, courses, _draws, _stop) in PATIENTS.items():
            add_patient(session, mrn=mrn, name=f"Pat {mrn}", email=email, born_on=None,
                        sex="F", site="main", actor="test", now=now)  # fmt: skip
            for course in courses:
                add_course(session, mrn=mrn, infused_on=course, actor="test", now=now)


def arrivals() -> dict[date, list[ResultIn]]:
    """Results keyed by the day they arrive (their collection day)."""
    by_day: dict[date, list[ResultIn]] = defaultdict(list)
    for mrn, (_email, _courses, draws, _stop) in PATIENTS.items():
        for day, analyte in draws:
            value, unit = NORMAL[analyte]
            by_day[day].append(ResultIn(mrn, analyte, value, unit, day))
    return by_day


def stops() -> dict[date, list[tuple[str, str]]]:
    found: dict[date, list[tuple[str, str]]] = defaultdict(list)
    for mrn, (_email, _courses, _draws, stop) in PATIENTS.items():
        if stop:
            found[stop[1]].append((mrn, stop[0]))
    return found


def simulate(engine: Engine) -> None:
    set_up_clinic(engine)
    results, stopping = arrivals(), stops()
    with freeze_time(datetime(2024, 1, 1, 7, tzinfo=UTC)) as frozen:
        day = START
        while day <= END:
            today = clock.today_in(CONFIG.clinic.timezone)
            assert today == day
            with unit_of_work(engine, CONFIG.catalogue) as session:
                for mrn, status in stopping.get(today, []):
                    change_status(session, mrn=mrn, status=status, on=today, reason=None,
                                  actor="test", now=clock.now_utc())  # fmt: skip
                if results.get(today):
                    record_results(session, results[today], today=today, now=clock.now_utc(),
                                   config=CONFIG)  # fmt: skip
            if not GAP[0] <= today <= GAP[1]:
                run_daily(engine, on=today, config=CONFIG, now=clock.now_utc())
            frozen.tick(timedelta(days=1))
            day += timedelta(days=1)


def emails(
    engine: Engine, *, skipped: bool = False
) -> dict[str, list[tuple[date, str, tuple[date, ...], str]]]:
    """Per MRN: (run date, message, due dates covered, status) of every patient email, or (with
    `skipped`) of every skipped row, its reason in place of the status."""
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Patient.mrn, OutboxMessage.id, OutboxMessage.run_on, OutboxMessage.message,
                   OutboxMessage.status, OutboxMessage.reason)
            .join(Patient, Patient.id == OutboxMessage.patient_id)
            .where(OutboxMessage.message.like("patient-%"),
                   (OutboxMessage.status == "skipped") == skipped)
            .order_by(OutboxMessage.run_on, OutboxMessage.message)
        ).all()  # fmt: skip
        covered: dict[int, set[date]] = defaultdict(set)
        for outbox_id, due_on in session.execute(select(Notice.outbox_id, Notice.due_on)):
            if outbox_id is not None:
                covered[outbox_id].add(due_on)
    found: dict[str, list[tuple[date, str, tuple[date, ...], str]]] = defaultdict(list)
    for mrn, outbox_id, run_on, message, status, reason in rows:
        what = reason if skipped else status.value
        found[mrn].append((run_on, message, tuple(sorted(covered[outbox_id])), what))
    return found


def run_days() -> list[date]:
    days = []
    day = START
    while day <= END:
        if not GAP[0] <= day <= GAP[1]:
            days.append(day)
        day += timedelta(days=1)
    return days


WINDOWS = {"cbc": (1, 7), "creatinine": (1, 7), "urinalysis": (1, 7), "lft": (1, 7),
           "tsh": (3, 14), "skin": (12, 30)}  # fmt: skip


def hand_slots(courses: list[list[date]]) -> list[tuple[str, date, date, date]]:
    """(panel, due, window_start, window_end) straight from SPEC §3.1."""
    slots = []
    for index, course in enumerate(courses):
        first, last = course[0], course[-1]
        following = courses[index + 1][0] if index + 1 < len(courses) else None
        for panel, (months, width) in WINDOWS.items():
            slots.append((panel, first, first - timedelta(days=30), first))
            k = 1
            while (due := last + relativedelta(months=k * months)) <= last + relativedelta(
                months=48
            ) and (following is None or due < following):
                slots.append((panel, due, due - timedelta(days=width), due + timedelta(days=width)))
                k += 1
    return slots


def expected_emails(mrn: str) -> list[tuple[date, str, tuple[date, ...], str]]:
    """What SPEC §5 says this patient receives, worked out day by day."""
    _email, courses, draws, _stop = PATIENTS[mrn]
    drawn: dict[date, set[str]] = defaultdict(set)
    for day, analyte in draws:
        drawn[day].add(analyte)
    slots = hand_slots(courses)
    next_start = {}
    for panel in WINDOWS:
        mine = sorted((s for s in slots if s[0] == panel), key=lambda s: s[1])
        for slot, after in zip(mine, [*mine[1:], None], strict=True):
            next_start[slot] = after[2] if after else None
    runs = run_days()
    sends: dict[tuple[date, str], set[date]] = defaultdict(set)
    for slot in slots:
        panel, due, start, end = slot
        needs = set(CONFIG.catalogue.panel("alemtuzumab", panel).analytes)
        done_on = min((d for d in drawn if start <= d <= end and needs <= drawn[d]), default=None)
        remind_days = [r for r in runs if due - timedelta(days=7) <= r <= due]
        if remind_days and (done_on is None or remind_days[0] < done_on):
            sends[(remind_days[0], "patient-tests-due")].add(due)
        if done_on is not None:
            continue
        decided: set[int] = set()
        for r in runs:
            if r <= end or (next_start[slot] is not None and r >= next_start[slot]):
                continue
            reached = [s for s in (1, 7) if r >= end + timedelta(days=s)]
            if reached and reached[-1] not in decided:
                sends[(r, "patient-tests-overdue")].add(due)
                decided.update(reached)
    return sorted((r, m, tuple(sorted(d)), "pending") for (r, m), d in sends.items())


def test_five_years_of_daily_cycles(engine: Engine) -> None:
    simulate(engine)
    received = emails(engine)
    skipped = emails(engine, skipped=True)

    for mrn in ("ADHERENT", "MISSES-JUNE", "RETREATED", "LAPSED"):
        assert received[mrn] == expected_emails(mrn), mrn

    # Every slot is reminded at most once per kind (and step).
    with unit_of_work(engine) as session:
        keys = session.execute(
            select(Notice.patient_id, Notice.panel, Notice.due_on, Notice.message, Notice.step)
        ).all()
    assert len(keys) == len(set(keys))

    # Stopped patients got nothing after the day they stopped: what the rules would have sent
    # is recorded as skipped, with the reason.
    for mrn, stopped_on in (("WITHDRAWN", date(2024, 9, 1)), ("DECEASED", date(2025, 6, 15))):
        assert received[mrn], f"{mrn} should have had reminders before stopping"
        assert all(run_on < stopped_on for run_on, *_ in received[mrn]), mrn
        after = {reason for run_on, _, _, reason in skipped[mrn] if run_on >= stopped_on}
        assert after <= {f"patient {mrn.lower()}", "superseded by the 7-day overdue reminder"}

    # A patient without an email address gets skipped rows, never a send.
    assert "NO-EMAIL" not in received
    assert {row[3] for row in skipped["NO-EMAIL"]} >= {"no email address"}

    # After the 10-day gap: one catch-up email per patient, the highest overdue step only; the
    # step it supersedes is an outbox row too, skipped with the reason (issue 10 item 10).
    resume = GAP[1] + timedelta(days=1)
    on_resume = [(mrn, row) for mrn, rows in received.items() for row in rows if row[0] == resume]
    assert sorted(mrn for mrn, _ in on_resume) == ["LAPSED", "RETREATED"]
    assert dict(on_resume)["LAPSED"][1] == "patient-tests-overdue"
    lapsed_overdue = dict(on_resume)["LAPSED"][2]
    assert [row for row in skipped["LAPSED"] if row[0] == resume] == [
        (resume, "patient-tests-overdue", lapsed_overdue,
         "superseded by the 7-day overdue reminder"),
    ]  # fmt: skip
    with unit_of_work(engine) as session:
        skipped_steps = session.execute(
            select(Notice.step, Notice.reason).where(
                Notice.run_on == resume, Notice.outbox_id.is_not(None), Notice.step == 1
            )
        ).all()
        assert not session.scalars(select(Notice.id).where(Notice.outbox_id.is_(None))).all()
    assert skipped_steps
    assert set(skipped_steps) == {(1, "superseded by the 7-day overdue reminder")}

    # One digest per site per run day, none for the gap.
    with unit_of_work(engine) as session:
        digests = session.scalars(
            select(OutboxMessage.run_on).where(OutboxMessage.message == "staff-daily-digest")
        ).all()
    assert sorted(digests) == run_days()

    # Running a day again queues nothing new.
    with unit_of_work(engine) as session:
        before = len(session.scalars(select(OutboxMessage.id)).all())
    report = run_daily(engine, on=date(2026, 7, 1), config=CONFIG, now=datetime.now(UTC))
    assert (report.queued, report.skipped) == (0, 0)
    with unit_of_work(engine) as session:
        assert len(session.scalars(select(OutboxMessage.id)).all()) == before
