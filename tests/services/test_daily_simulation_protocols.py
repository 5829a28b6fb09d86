"""Five years of daily cycles for a clinic on two protocols (issue 13's simulation).

The sibling of test_daily_simulation.py: the clock is frozen and moved a day at a time; each day
treatments start or stop, the results collected that day arrive, then the daily cycle runs. The
clinic is on alemtuzumab (courses, SPEC §3) and on a site-defined continuous protocol
(`site_cont`, SPEC §10.2: due dates from its start, an end `after_stop_months` after a stop),
and one patient is on both at once: alemtuzumab's monitoring continues after the switch.

The expected emails are worked out here from SPEC §3, §5 and §10 directly (due dates, windows,
the two series' ends, the reminder days), not from the code under test: one email per patient
per run and kind, holding the tests of every series due that day, each worded by its panel's
`patient_words`, never naming a drug or a protocol.
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
from monitor.services.people.patients import add_patient
from monitor.services.people.treatments import start_treatment, stop_treatment
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.store.db import unit_of_work
from monitor.store.models import Notice, OutboxMessage, Patient
from tests.conftest import clinic_config

START = date(2024, 1, 1)
END = date(2028, 12, 31)
ALEM, CONT = "alemtuzumab", "site_cont"
CONT_WORDS = {"cbc": "your white cell count", "liver": "your liver enzyme test"}
CONFIG = clinic_config(
    {
        "protocols": {
            CONT: {
                "name": "Zenvaxumab (Brandicor)",
                "kind": "continuous",
                "after_stop_months": 6,
                "baseline_window_days": 30,
                "panels": {
                    "cbc": {
                        "analytes": ["lymphocytes"],
                        "baseline": True,
                        "phases": [{"every": "3m"}],
                        "window_before_days": 7,
                        "window_after_days": 7,
                        "patient_words": CONT_WORDS["cbc"],
                    },
                    "liver": {
                        "analytes": ["ast"],
                        "baseline": True,
                        "phases": [{"every": "6m"}],
                        "window_before_days": 7,
                        "window_after_days": 7,
                        "patient_words": CONT_WORDS["liver"],
                    },
                },
            }
        }
    }
)
# Words no patient email may hold: the protocols' ids and names, and the drugs' names.
FORBIDDEN = ("alemtuzumab", "lemtrada", "site_cont", "zenvaxumab", "brandicor", "protocol")
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
    "lymphocytes": ("1.6", "10^9/L"),
    "ast": ("20", "U/L"),
}
# SPEC §3.1's panels of alemtuzumab: (every months, window days either side); analytes.
ALEM_PANELS = {"cbc": (1, 7), "creatinine": (1, 7), "urinalysis": (1, 7), "lft": (1, 7),
               "tsh": (3, 14), "skin": (12, 30)}  # fmt: skip
ALEM_ANALYTES = {"cbc": ("platelets", "neutrophils", "hemoglobin"), "creatinine": ("creatinine",),
                 "urinalysis": ("urine_rbc", "urine_protein"), "lft": ("alt", "bilirubin"),
                 "tsh": ("tsh",), "skin": ("skin_exam",)}  # fmt: skip
CONT_PANELS = {"cbc": (3, 7), "liver": (6, 7)}
CONT_ANALYTES = {"cbc": ("lymphocytes",), "liver": ("ast",)}

COURSE_1 = [date(2024, 2, 5) + timedelta(days=d) for d in range(5)]  # last infusion 9 Feb
# The switch: the continuous drug starts on a day alemtuzumab's monthly tests fall on (the 9th),
# so its due dates coincide with alemtuzumab's and one email must hold both series.
SWITCH_START, SWITCH_STOP = date(2025, 3, 9), date(2026, 10, 15)
CONT_START = date(2024, 3, 1)

Slot = tuple[str, str, date, date, date]  # (protocol, panel, due, window start, window end)


def months(anchor: date, count: int) -> date:
    return anchor + relativedelta(months=count)


def around(due: date, width: int) -> tuple[date, date]:
    """A recurring slot's window: `width` days either side of its due date."""
    return due - timedelta(days=width), due + timedelta(days=width)


def alem_slots(course: list[date]) -> list[Slot]:
    """SPEC §3.1: a baseline per panel on the first infusion (window 30 days before), then every
    `every` months after the last infusion up to 48 months."""
    first, last = course[0], course[-1]
    slots = []
    for panel, (every, width) in ALEM_PANELS.items():
        slots.append((ALEM, panel, first, first - timedelta(days=30), first))
        k = 1
        while (due := months(last, k * every)) <= months(last, 48):
            slots.append((ALEM, panel, due, *around(due, width)))
            k += 1
    return slots


def cont_slots(started: date, stopped: date | None) -> list[Slot]:
    """SPEC §10.2: a baseline on the start (window baseline_window_days before it), then every
    `every` months from the start, up to the stop + after_stop_months (inclusive), or past the
    simulation while open."""
    end = months(stopped, 6) if stopped else END + timedelta(days=400)
    slots = []
    for panel, (every, width) in CONT_PANELS.items():
        slots.append((CONT, panel, started, started - timedelta(days=30), started))
        k = 1
        while (due := months(started, k * every)) <= end:
            slots.append((CONT, panel, due, *around(due, width)))
            k += 1
    return slots


def draws_for(slots: list[Slot], until: date, skip: set[tuple[str, date]]) -> set[tuple[date, str]]:
    """Every analyte of every slot drawn on its due date, up to `until`, except the (panel, due)
    pairs in `skip` (a panel name here means that panel of either protocol)."""
    drawn = set()
    for protocol, panel, due, _start, _end in slots:
        if due > until or (panel, due) in skip:
            continue
        analytes = (ALEM_ANALYTES if protocol == ALEM else CONT_ANALYTES)[panel]
        drawn.update((due, analyte) for analyte in analytes)
    return drawn


SWITCH_SLOTS = alem_slots(COURSE_1) + cont_slots(SWITCH_START, SWITCH_STOP)
PATIENTS = {
    # mrn: (email, alemtuzumab courses, continuous (start, stop) or None, slots, draws)
    "ALEM": (
        "a@example.org",
        [COURSE_1],
        None,
        alem_slots(COURSE_1),
        draws_for(
            alem_slots(COURSE_1), END, {("cbc", date(2024, 6, 9)), ("tsh", date(2025, 2, 9))}
        ),
    ),
    # The continuous drug alone, open to the end (its plan is extended by the daily cycle); it
    # misses one blood count, then nothing after January 2028 (both panels overdue together).
    "CONT": (
        "b@example.org",
        [],
        (CONT_START, None),
        cont_slots(CONT_START, None),
        draws_for(cont_slots(CONT_START, None), date(2028, 1, 1), {("cbc", date(2025, 6, 1))}),
    ),
    # Alemtuzumab, then the continuous drug from March 2025 while alemtuzumab's monitoring runs
    # to February 2028; the drug stopped in October 2026 (its tests go on 6 months after). All on
    # time until June 2026, a missed liver test before; nothing after: both series overdue.
    "SWITCH": (
        "c@example.org",
        [COURSE_1],
        (SWITCH_START, SWITCH_STOP),
        SWITCH_SLOTS,
        draws_for(SWITCH_SLOTS, date(2026, 6, 1), {("liver", date(2025, 9, 9))}),
    ),
}


def set_up_clinic(engine: Engine) -> None:
    now = datetime(2023, 12, 1, 9, tzinfo=UTC)
    with unit_of_work(engine, CONFIG.catalogue) as session:
        for mrn, (email, courses, _cont, _slots, _draws) in PATIENTS.items():
            add_patient(session, mrn=mrn, name=f"Pat {mrn}", email=email, born_on=None,
                        sex="F", site="main", actor="test", now=now)  # fmt: skip
            for course in courses:
                add_course(session, mrn=mrn, infused_on=course, actor="test", now=now)


def arrivals() -> dict[date, list[ResultIn]]:
    """Results keyed by the day they arrive (their collection day)."""
    by_day: dict[date, list[ResultIn]] = defaultdict(list)
    for mrn, (_email, _courses, _cont, _slots, draws) in PATIENTS.items():
        for day, analyte in sorted(draws):
            value, unit = NORMAL[analyte]
            by_day[day].append(ResultIn(mrn, analyte, value, unit, day))
    return by_day


def treatment_events() -> dict[date, list[tuple[str, str]]]:
    """(mrn, "start" or "stop") keyed by the day, as the nurse records them on the day."""
    events: dict[date, list[tuple[str, str]]] = defaultdict(list)
    for mrn, (_email, _courses, cont, _slots, _draws) in PATIENTS.items():
        if cont:
            events[cont[0]].append((mrn, "start"))
            if cont[1]:
                events[cont[1]].append((mrn, "stop"))
    return events


def simulate(engine: Engine) -> None:
    set_up_clinic(engine)
    results, events = arrivals(), treatment_events()
    with freeze_time(datetime(2024, 1, 1, 7, tzinfo=UTC)) as frozen:
        day = START
        while day <= END:
            today = clock.today_in(CONFIG.clinic.timezone)
            assert today == day
            with unit_of_work(engine, CONFIG.catalogue) as session:
                for mrn, event in events.get(today, []):
                    if event == "start":
                        start_treatment(session, mrn=mrn, protocol=CONT, started_on=today,
                                        actor="test", now=clock.now_utc())  # fmt: skip
                    else:
                        stop_treatment(session, mrn=mrn, protocol=CONT, stopped_on=today,
                                       reason="switched", actor="test",
                                       now=clock.now_utc())  # fmt: skip
                if results.get(today):
                    record_results(session, results[today], today=today, now=clock.now_utc(),
                                   config=CONFIG)  # fmt: skip
            run_daily(engine, on=today, config=CONFIG, now=clock.now_utc())
            frozen.tick(timedelta(days=1))
            day += timedelta(days=1)


Covered = tuple[tuple[str, str, date], ...]  # (protocol, panel, due) of each slot an email holds


def patient_emails(engine: Engine) -> dict[str, list[tuple[date, str, Covered, str]]]:
    """Per MRN: (run date, message, slots covered, status) of every patient email queued."""
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Patient.mrn, OutboxMessage.id, OutboxMessage.run_on, OutboxMessage.message,
                   OutboxMessage.status)
            .join(Patient, Patient.id == OutboxMessage.patient_id)
            .where(OutboxMessage.message.like("patient-%"), OutboxMessage.status != "skipped")
            .order_by(OutboxMessage.run_on, OutboxMessage.message)
        ).all()  # fmt: skip
        covered: dict[int, set[tuple[str, str, date]]] = defaultdict(set)
        notices = select(Notice.outbox_id, Notice.protocol, Notice.panel, Notice.due_on)
        for outbox_id, protocol, panel, due_on in session.execute(notices):
            if outbox_id is not None:
                covered[outbox_id].add((protocol, panel, due_on))
    found: dict[str, list[tuple[date, str, Covered, str]]] = defaultdict(list)
    for mrn, outbox_id, run_on, message, status in rows:
        found[mrn].append((run_on, message, tuple(sorted(covered[outbox_id])), status.value))
    return found


def next_window_starts(slots: list[Slot]) -> dict[Slot, date | None]:
    """Per slot, the window start of the next slot of its series (protocol, panel)."""
    following: dict[Slot, date | None] = {}
    for series in {(s[0], s[1]) for s in slots}:
        mine = sorted((s for s in slots if (s[0], s[1]) == series), key=lambda s: s[2])
        for slot, after in zip(mine, [*mine[1:], None], strict=True):
            following[slot] = after[3] if after else None
    return following


def expected_emails(mrn: str) -> list[tuple[date, str, Covered, str]]:
    """What SPEC §5 says this patient receives, day by day: a "tests due" email on the first run
    from 7 days before a due date (once the slot exists) unless the tests were done before that
    run; "overdue" on the first run 1 day and 7 days after a missed window closes (the highest
    step reached, once), until the series' next window opens. One email per run and kind."""
    _email, _courses, cont, slots, draws = PATIENTS[mrn]
    drawn: dict[date, set[str]] = defaultdict(set)
    for day, analyte in draws:
        drawn[day].add(analyte)
    following = next_window_starts(slots)
    runs = [START + timedelta(days=d) for d in range((END - START).days + 1)]
    sends: dict[tuple[date, str], set[tuple[str, str, date]]] = defaultdict(set)
    for slot in slots:
        protocol, panel, due, start, end = slot
        exists_from = cont[0] if protocol == CONT and cont else START
        needs = set((ALEM_ANALYTES if protocol == ALEM else CONT_ANALYTES)[panel])
        done_on = min((d for d in drawn if start <= d <= end and needs <= drawn[d]), default=None)
        remind_days = [r for r in runs if due - timedelta(days=7) <= r <= due and r >= exists_from]
        if remind_days and (done_on is None or remind_days[0] < done_on):
            sends[(remind_days[0], "patient-tests-due")].add((protocol, panel, due))
        if done_on is not None:
            continue
        decided: set[int] = set()
        for r in runs:
            if r <= end or (following[slot] is not None and r >= following[slot]):
                continue
            reached = [s for s in (1, 7) if r >= end + timedelta(days=s)]
            if reached and reached[-1] not in decided:
                sends[(r, "patient-tests-overdue")].add((protocol, panel, due))
                decided.update(reached)
    return sorted((r, m, tuple(sorted(c)), "pending") for (r, m), c in sends.items())


def words_of(protocol: str, panel: str) -> str:
    return CONFIG.catalogue.panel(protocol, panel).patient_words


def test_five_years_of_daily_cycles_on_two_protocols(engine: Engine) -> None:
    simulate(engine)
    received = patient_emails(engine)

    for mrn in PATIENTS:
        assert received[mrn] == expected_emails(mrn), mrn

    # The switch is what the test is about: emails that hold both series at once, of each kind.
    both = {
        (message, frozenset(protocol for protocol, _, _ in covered))
        for _, message, covered, _ in received["SWITCH"]
    }
    assert ("patient-tests-due", frozenset({ALEM, CONT})) in both
    assert ("patient-tests-overdue", frozenset({ALEM, CONT})) in both
    # The continuous series goes on after its stop (after_stop_months), and no further.
    switch_covered = [slot for _, _, covered, _ in received["SWITCH"] for slot in covered]
    cont_dues = {due for protocol, _, due in switch_covered if protocol == CONT}
    assert max(cont_dues) == date(2027, 3, 9)
    # The open treatment's plan was extended by the daily cycle: reminded to the end.
    assert max(run_on for run_on, *_ in received["CONT"]) > date(2028, 6, 1)

    # Every slot is reminded at most once per kind (and step), per series.
    with unit_of_work(engine) as session:
        keys = session.execute(
            select(Notice.patient_id, Notice.protocol, Notice.panel, Notice.due_on,
                   Notice.message, Notice.step)
        ).all()  # fmt: skip
        texts = session.execute(
            select(OutboxMessage.id, OutboxMessage.subject, OutboxMessage.body_text,
                   OutboxMessage.body_html)
            .where(OutboxMessage.message.like("patient-%"), OutboxMessage.status != "skipped")
        ).all()  # fmt: skip
        words_by_outbox: dict[int, set[str]] = defaultdict(set)
        for outbox_id, protocol, panel in session.execute(
            select(Notice.outbox_id, Notice.protocol, Notice.panel)
        ):
            if outbox_id is not None:
                words_by_outbox[outbox_id].add(words_of(protocol, panel))
    assert len(keys) == len(set(keys))

    # Each email names each of its tests by its panel's patient_words (the HTML capitalises
    # its lines); none names a drug or a protocol, in the subject, the text or the HTML.
    assert texts
    for outbox_id, subject, body_text, body_html in texts:
        assert words_by_outbox[outbox_id], outbox_id
        for words in words_by_outbox[outbox_id]:
            assert words in body_text, (outbox_id, words)
            assert words in (body_html or "").lower(), (outbox_id, words)
        for part in (subject, body_text, body_html or ""):
            lowered = part.lower()
            assert not [word for word in FORBIDDEN if word in lowered], (outbox_id, part)
    all_text = " ".join(t for _, _, t, _ in texts)
    for words in CONT_WORDS.values():
        assert words in all_text
