"""Generated clinics for the report tests (invented MRNs; nothing here is a person).

A seeded random clinic: patients at three sites on alemtuzumab courses, a continuous protocol
(dimethyl fumarate or teriflunomide) or both, some stopped; per slot a result on time, late,
partial, early or none; a few waivers. Slots are computed by the product's pure schedule
(`services.schedule.slots.plan_slots`) and stored as a rebuild stores them (`slot_rows`), with
each treatment stamped with its protocol's fingerprint so the readers take them as current.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, delete, insert

from monitor.config import Config
from monitor.domain.courses import Course
from monitor.domain.status import CountedResult
from monitor.domain.treatments import Treatment, build_slots
from monitor.domain.vocabulary import STOPPED_STATUSES, PatientStatus
from monitor.services.schedule.slots import plan_slots, slot_rows
from monitor.store import models

CATALOGUE = Config().catalogue
SITES = ("main", "north", "east")
CONTINUOUS = ("dimethyl_fumarate", "teriflunomide")
HORIZON = date(2028, 12, 31)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DrawnPatient:
    number: int
    site: str
    sex: str
    status: PatientStatus
    status_on: date | None
    treatments: tuple[Treatment, ...]

    @property
    def mrn(self) -> str:
        return f"R{self.number:04d}"

    @property
    def stopped_on(self) -> date | None:
        return self.status_on if self.status in STOPPED_STATUSES else None


def draw_patient(rng: random.Random, number: int) -> DrawnPatient:
    kind = rng.choice(("alem", "alem", "cont", "both"))
    treatments: list[Treatment] = []
    start = date(2021, 1, 1) + timedelta(days=rng.randint(0, 4 * 365))
    if kind in ("alem", "both"):
        courses, first = [], start
        for index in range(rng.randint(1, 3)):
            courses.append(
                Course(tuple(first + timedelta(days=d) for d in range(rng.randint(3, 5))))
            )
            first += timedelta(days=rng.randint(330, 420) + index)
        treatments.append(Treatment("alemtuzumab", courses[0].first_on, None, tuple(courses)))
        start = courses[-1].last_on + timedelta(days=rng.randint(180, 700))
    if kind in ("cont", "both"):
        stopped = start + timedelta(days=rng.randint(100, 900)) if rng.random() < 0.2 else None
        treatments.append(Treatment(rng.choice(CONTINUOUS), start, stopped))
    status = PatientStatus.ACTIVE
    status_on = None
    if rng.random() < 0.15:
        status = rng.choice([s for s in PatientStatus if s in STOPPED_STATUSES])
        status_on = start + timedelta(days=rng.randint(0, 700))
    return DrawnPatient(
        number, rng.choice(SITES), rng.choice("FM"), status, status_on, tuple(treatments)
    )


def draw_results(rng: random.Random, patient: DrawnPatient) -> list[CountedResult]:
    """Per planned slot: nothing, every analyte on time, some on time, late, or early."""
    planned = build_slots(
        patient.treatments, CATALOGUE, sex=patient.sex, stopped_on=None, horizon_on=HORIZON
    )
    found = []
    for slot in planned:
        analytes = CATALOGUE.panel(slot.protocol, slot.panel).analytes
        kind = rng.choice(("none", "on time", "on time", "on time", "partial", "late", "early"))
        span = (slot.window_end - slot.window_start).days
        collected = slot.window_start + timedelta(days=rng.randint(0, span))
        if kind == "none":
            continue
        if kind == "partial":
            analytes = analytes[: rng.randint(1, len(analytes))]
        elif kind == "late":
            collected = slot.window_end + timedelta(days=rng.randint(1, 120))
        elif kind == "early":
            collected = slot.window_start - timedelta(days=rng.randint(1, 10))
        found.extend(CountedResult(analyte, collected) for analyte in analytes)
    return found


def store_clinic(engine: Engine, seed: int, size: int) -> list[DrawnPatient]:
    """Replace every patient, treatment and slot with a clinic of `size` drawn from `seed`."""
    rng = random.Random(seed)
    clinic = [draw_patient(rng, number) for number in range(1, size + 1)]
    tables = models.Base.metadata.tables
    with engine.begin() as connection:
        for name in ("slots", "waivers", "treatments", "patients"):
            connection.execute(delete(tables[name]))
        for patient in clinic:
            connection.execute(
                insert(models.Patient).values(
                    id=patient.number,
                    mrn=patient.mrn,
                    name=f"Generated {patient.number}",
                    site=patient.site,
                    sex=patient.sex,
                    status=patient.status,
                    status_on=patient.status_on,
                    created_at=NOW,
                )
            )
            for treatment in patient.treatments:
                connection.execute(
                    insert(models.Treatment).values(
                        patient_id=patient.number,
                        protocol=treatment.protocol,
                        started_on=treatment.started_on,
                        stopped_on=treatment.stopped_on,
                        schedule_fingerprint=CATALOGUE.fingerprint(treatment.protocol),
                        created_at=NOW,
                    )
                )
            progress = plan_slots(
                patient.treatments,
                draw_results(rng, patient),
                CATALOGUE,
                sex=patient.sex,
                stopped_on=patient.stopped_on,
                horizon_on=HORIZON,
            )
            waived = {
                (p.slot.protocol, p.slot.panel, p.slot.due_on)
                for p in progress
                if rng.random() < 0.05
            }
            rows = slot_rows(patient.number, progress, waived, patient.stopped_on)
            if rows:
                connection.execute(insert(tables["slots"]), rows)
    return clinic
