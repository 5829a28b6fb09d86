"""A synthetic clinic for `monitor demo` (and for trying the product without real data).

Patients get one to four courses spread over the past six years (some planned for next month),
and results for most past slots: on time, a few late, some missing, so the overdue list has
something to show. Names are invented; nothing here is a real person. Deterministic per seed.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.domain.courses import Course
from monitor.domain.rules import RuleSettings
from monitor.domain.treatments import build_slots, courses_treatment
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.results.recording import ResultIn, add_results

DEMO_DATABASE = "monitor-demo.db"
DEMO_MAIL_DIR = "monitor-demo-mail"
DEMO_ACTOR = "demo"

# The demo is a made-up clinic of its own, so its emails carry these values rather than the
# placeholders that hold a real clinic's reminders back (01632 960xxx is a UK range for drama).
DEMO_CLINIC_NAME = "Demo MS Clinic"
DEMO_CLINIC_PHONE = "01632 960000"
DEMO_SENDER = "monitor@demo-clinic.example"
DEMO_STAFF = ["nurses@demo-clinic.example"]

# 50 x 50 invented names: enough for the largest demo (2000 patients) without a repeat.
FIRST_NAMES = """
Alex Sam Jo Robin Kim Lee Morgan Charlie Ash Remy Avery Blair Casey Dana Drew Eden Ellis Emery
Finley Frankie Harper Hayden Jamie Jesse Jordan Jules Kai Kendall Logan Marley Micah Nico Noa
Oakley Parker Peyton Quinn Reese Riley Rowan Rory Sage Sasha Skyler Taylor Toni Val Wren Yael Ari
""".split()
LAST_NAMES = """
Rivers Stone Hale Moss Reed Lane Frost Wells Shaw Vale Ashby Banks Brook Carter Dale Dawson
Fairley Field Fox Garner Glen Grove Hart Hayes Holt Irwin Keane Kerr Lake Marsh Meadows Nash
North Oakes Park Pike Rowe Sands Thorne Tate Underwood Vance Ward West Wilde York Yates Hollis
Fenn Corby
""".split()

# analyte -> (unit, low, high): each patient gets a personal level in this normal range
NORMAL_VALUES = {
    "platelets": ("10^9/L", 180, 360),
    "neutrophils": ("10^9/L", 2.0, 6.0),
    "hemoglobin": ("g/L", 136, 150),
    "creatinine": ("umol/L", 62, 84),
    "urine_rbc": ("/HPF", 0, 1.5),
    "alt": ("U/L", 12, 30),
    "bilirubin": ("umol/L", 5, 15),
    "tsh": ("mIU/L", 0.8, 3.0),
}
ORDINAL_NORMAL = {"urine_protein": "negative", "urine_blood": "negative", "skin_exam": "normal"}


def synthetic_names(rng: random.Random, count: int) -> list[str]:
    """`count` different names, so no two demo patients can be mistaken for each other."""
    return rng.sample([f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES], count)


def demo_config(config: Config) -> Config:
    """`config` with the demo clinic's name, phone, sender and staff addresses."""
    return config.model_copy(
        update={
            "clinic": config.clinic.model_copy(
                update={"name": DEMO_CLINIC_NAME, "phone": DEMO_CLINIC_PHONE}
            ),
            "email": config.email.model_copy(update={"from_": DEMO_SENDER}),
            "staff": config.staff.model_copy(
                update={"digest_to": DEMO_STAFF, "urgent_to": DEMO_STAFF}
            ),
        }
    )


def synthetic_courses(rng: random.Random, today: date) -> list[Course]:
    """One to four courses: 5 days, then 3 days about a year apart; a few are planned."""
    first = today - timedelta(days=rng.randint(-20, 6 * 365))
    courses = [Course(tuple(first + timedelta(days=d) for d in range(5)))]
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        start = courses[-1].last_on + relativedelta(months=12) + timedelta(days=rng.randint(0, 90))
        if start > today + timedelta(days=40):
            break
        courses.append(Course(tuple(start + timedelta(days=d) for d in range(3))))
    return courses


def synthetic_results(
    rng: random.Random, mrn: str, courses: list[Course], catalogue: Catalogue, today: date
) -> list[ResultIn]:
    """Results for past slots: 80% on time, 7% late, the rest missing; now and then abnormal."""
    results = []
    adherence = rng.uniform(0.6, 1.0)
    levels = {a: rng.uniform(low, high) for a, (_, low, high) in NORMAL_VALUES.items()}
    treatment = courses_treatment(DEFAULT_PROTOCOL_ID, courses)
    for slot in build_slots([treatment], catalogue, sex=None, stopped_on=None, horizon_on=today):
        roll = rng.random()
        if slot.window_end > today or roll > adherence:
            continue
        offset = rng.randint(0, (slot.window_end - slot.window_start).days)
        collected = slot.window_start + timedelta(days=offset)
        if roll > adherence * 0.92:
            collected = slot.window_end + timedelta(days=rng.randint(1, 10))
        if collected > today:
            continue
        for analyte in catalogue.panel(slot.protocol, slot.panel).analytes:
            results.append(_result(rng, mrn, analyte, collected, levels))
    return results


def _result(
    rng: random.Random, mrn: str, analyte: str, collected: date, levels: dict[str, float]
) -> ResultIn:
    """A value near the patient's own level; about 1 in 500 is abnormal."""
    if analyte in ORDINAL_NORMAL:
        abnormal = "abnormal" if analyte == "skin_exam" else "1+"
        value = abnormal if rng.random() < 0.002 else ORDINAL_NORMAL[analyte]
        return ResultIn(mrn, analyte, value, None, collected, source="demo")
    unit = NORMAL_VALUES[analyte][0]
    number = levels[analyte] * rng.uniform(0.95, 1.05)
    if rng.random() < 0.002:
        number *= rng.uniform(0.2, 0.6) if analyte in ("platelets", "neutrophils") else 3.5
    return ResultIn(mrn, analyte, f"{number:.3g}", unit, collected, source="demo")


def build_demo_clinic(
    session: Session,
    catalogue: Catalogue,
    rules: RuleSettings,
    *,
    today: date,
    now: datetime,
    patients: int,
    seed: int,
) -> int:
    """Add `patients` synthetic patients with courses and results; returns how many."""
    rng = random.Random(seed)
    names = synthetic_names(rng, patients)
    for number, name in enumerate(names, 1):
        mrn = f"DEMO{number:04d}"
        email = f"patient{number:04d}@example.invalid" if rng.random() < 0.85 else None
        add_patient(
            session,
            mrn=mrn,
            name=name,
            email=email,
            sex=rng.choice("FFFMM"),
            born_on=date(rng.randint(1965, 2000), rng.randint(1, 12), rng.randint(1, 28)),
            site=rng.choice(("main", "main", "north")),
            actor=DEMO_ACTOR,
            now=now,
        )
        courses = synthetic_courses(rng, today)
        for course in courses:
            add_course(
                session,
                mrn=mrn,
                infused_on=course.dates,
                actor=DEMO_ACTOR,
                now=now,
            )
        batch = synthetic_results(rng, mrn, courses, catalogue, today)
        add_results(session, batch, today=today, now=now, rules=rules)
    return patients
