"""Benchmark: build and store every schedule, the overdue list, one patient's schedule.

Run from the repository root (see BENCHMARKS.md for the figures and how to read them):

    python bench/bench_schedule.py --patients 10000 --database both

Each measurement of the product (the real code: Alembic migrations, `plan_slots` + `slot_rows`,
Core inserts into `slots`, `queries.overdue_list`, `services.schedule.view.patient_schedule`) is put
beside a raw-SQL floor measured in the same run on the same data: the same slot rows inserted
with the DBAPI's own `executemany` into a copy of the table, and the same queries written by hand
on the raw connection. The ratio says how much the product adds over the least the database needs.

This is a script, not a timed test: the figures depend on the machine, so nothing here fails.
"""

from __future__ import annotations

import argparse
import enum
import os
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

from monitor.config import Config, load_config
from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.domain.courses import Course
from monitor.domain.schedule import add_months
from monitor.domain.status import CountedResult
from monitor.domain.treatments import Treatment, has_open_series
from monitor.domain.vocabulary import COUNTING_STATUSES, STOPPED_STATUSES
from monitor.services.mail.daily import run_daily
from monitor.services.schedule.slots import (
    PLAN_AHEAD_MONTHS,
    SLOT_COLUMNS,
    plan_slots,
    slot_rows,
)
from monitor.services.schedule.view import patient_schedule
from monitor.store import models
from monitor.store.bulk import insert_rows_on
from monitor.store.db import make_engine
from monitor.store.migrate import upgrade
from monitor.store.queries import overdue_list

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The clinic's own values (a configuration with placeholders holds every reminder), for the
# overdue command and the daily cycle; everything else is the defaults.
BENCH_CONFIG = """
[clinic]
name = "Bench MS Clinic"
phone = "0100 000 0000"

[email]
from = "monitor@clinic.example"

[staff]
digest_to = ["nurses@clinic.example"]
urgent_to = ["clinicians@clinic.example"]
"""
PG_BENCH_DATABASE = "monitor_bench"  # the default of --pg-database
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


# Analytes drawn together at one visit; tsh every 3rd month, the skin exam every 12th.
MONTHLY = (
    "platelets",
    "neutrophils",
    "hemoglobin",
    "creatinine",
    "urine_rbc",
    "urine_protein",
    "alt",
    "bilirubin",
)
BASELINE = (*MONTHLY, "tsh", "skin_exam")


# ---------------------------------------------------------------- synthetic clinic


# Analytes of the other shipped protocols' panels (monitor/protocols/*.toml), drawn together.
DMF_CBC = ("wbc", "lymphocytes")
DMF_RENAL_LFT = ("creatinine", "urine_protein", "alt", "ast", "bilirubin")
CLADRIBINE = ("lymphocytes", "wbc")
CONTINUOUS_PROTOCOL = "dimethyl_fumarate"
# --mix mixed: which protocols a patient is on (weights in %); alemtuzumab-only is 100 % "alem".
MIX = {"alem": 40, "cont": 30, "both": 20, "clad": 10}
CATALOGUE: Catalogue = Config().catalogue  # the shipped protocols (monitor/protocols/)


@dataclass
class SyntheticTreatment:
    """One treatment row: a courses protocol's courses, or a continuous start and stop."""

    protocol: str
    started_on: date
    stopped_on: date | None = None
    courses: list[tuple[date, ...]] = field(default_factory=list)


@dataclass
class SyntheticPatient:
    """What one generated patient puts in the database."""

    number: int
    treatments: list[SyntheticTreatment]
    results: list[tuple[str, date]]
    status: str = "active"
    status_on: date | None = None
    waiver: tuple[str, str, date] | None = None  # (protocol, panel, due date)


def synthetic_patient(
    rng: random.Random, number: int, today: date, kind: str = "alem"
) -> SyntheticPatient:
    """One patient of `kind` (see MIX): "alem" alemtuzumab courses only, "cont" dimethyl
    fumarate (continuous) only, "both" alemtuzumab then dimethyl fumarate started while the
    alemtuzumab monitoring continues, "clad" cladribine courses. An "alem" patient draws the same
    random numbers as before mixes existed, so the alemtuzumab-only clinic is unchanged.
    """
    if kind == "cont":
        return _continuous_patient(rng, number, today)
    if kind == "clad":
        return _cladribine_patient(rng, number, today)
    count = rng.choices((1, 2, 3, 4, 5), weights=(40, 30, 15, 10, 5))[0]
    if kind == "both":
        count = min(count, 2)
    gaps = [365 + rng.randint(0, 120) for _ in range(count - 1)]
    start = today - timedelta(days=rng.randint(0, 5 * 365) + sum(gaps))
    courses = []
    for index in range(count):
        days = 5 if index == 0 else 3
        courses.append(tuple(start + timedelta(days=d) for d in range(days)))
        if index < count - 1:
            start = courses[-1][-1] + timedelta(days=gaps[index])
    alemtuzumab = SyntheticTreatment(DEFAULT_PROTOCOL_ID, courses[0][0], courses=courses)
    patient = SyntheticPatient(number, [alemtuzumab], _synthetic_results(rng, courses, today))
    if rng.random() < 0.03:
        patient.status = "withdrawn"
        patient.status_on = courses[-1][-1] + timedelta(days=rng.randint(30, 900))
    if rng.random() < 0.02:
        patient.waiver = (DEFAULT_PROTOCOL_ID, "cbc", add_months(courses[0][-1], 2))
    if kind == "both":
        started = courses[-1][-1] + timedelta(days=rng.randint(180, 900))
        if started < today:
            continuous = _continuous_treatment(rng, started, today)
            patient.treatments.append(continuous)
            patient.results.extend(_continuous_results(rng, continuous, today))
    return patient


def _continuous_treatment(rng: random.Random, started: date, today: date) -> SyntheticTreatment:
    """Dimethyl fumarate from `started`; 15 % stopped 3 months to 4 years later (in the past)."""
    stopped = started + timedelta(days=rng.randint(90, 1500)) if rng.random() < 0.15 else None
    return SyntheticTreatment(
        CONTINUOUS_PROTOCOL, started, stopped if stopped and stopped < today else None
    )


def _continuous_patient(rng: random.Random, number: int, today: date) -> SyntheticPatient:
    started = today - timedelta(days=rng.randint(0, 5 * 365))
    treatment = _continuous_treatment(rng, started, today)
    patient = SyntheticPatient(number, [treatment], _continuous_results(rng, treatment, today))
    if rng.random() < 0.03:
        patient.status = "withdrawn"
        patient.status_on = started + timedelta(days=rng.randint(30, 900))
    if rng.random() < 0.02:
        patient.waiver = (CONTINUOUS_PROTOCOL, "cbc", add_months(started, 3))
    return patient


def _continuous_results(
    rng: random.Random, treatment: SyntheticTreatment, today: date
) -> list[tuple[str, date]]:
    """A pre-start draw, then a visit about every 3 months (60-100 % adherence): the blood count
    every time, the renal and liver tests every other time (3 months, then every 6)."""
    adherence = rng.uniform(0.6, 1.0)
    pre = treatment.started_on - timedelta(days=rng.randint(1, 20))
    results = [(analyte, pre) for analyte in (*DMF_CBC, *DMF_RENAL_LFT) if pre <= today]
    end = min(today, treatment.stopped_on or today)
    for quarter in range(1, 80):
        due = treatment.started_on + timedelta(days=round(91.3 * quarter))
        if due > end:
            break
        if rng.random() > adherence:
            continue
        on = due + timedelta(days=rng.randint(-10, 10))
        if on > today:
            continue
        drawn = DMF_CBC + (DMF_RENAL_LFT if quarter == 1 or quarter % 2 == 0 else ())
        results.extend((analyte, on) for analyte in drawn)
    return results


def _cladribine_patient(rng: random.Random, number: int, today: date) -> SyntheticPatient:
    """One or two treatment years, each two treatment weeks (one course each) about a month
    apart; lymphocytes drawn before each week and 4 weeks and 5 months after it."""
    years = rng.choice((1, 2))
    start = today - timedelta(days=rng.randint(0, 4 * 365) + 365 * (years - 1))
    courses = []
    for _ in range(years):
        for week_start in (start, start + timedelta(days=28 + rng.randint(0, 7))):
            courses.append(tuple(week_start + timedelta(days=d) for d in range(5)))
        start += timedelta(days=365 + rng.randint(0, 60))
    courses = [course for course in courses if course[-1] <= today] or courses[:1]
    adherence = rng.uniform(0.6, 1.0)
    results: list[tuple[str, date]] = []
    for course in courses:
        for on in (
            course[0] - timedelta(days=rng.randint(1, 20)),
            course[-1] + timedelta(days=28 + rng.randint(-5, 5)),
            add_months(course[-1], 5) + timedelta(days=rng.randint(-5, 5)),
        ):
            if on <= today and rng.random() <= adherence:
                results.extend((analyte, on) for analyte in CLADRIBINE)
    treatment = SyntheticTreatment("cladribine", courses[0][0], courses=courses)
    return SyntheticPatient(number, [treatment], sorted(set(results), key=lambda r: r[1]))


def _synthetic_results(
    rng: random.Random, courses: list[tuple[date, ...]], today: date
) -> list[tuple[str, date]]:
    adherence = rng.uniform(0.6, 1.0)
    results: list[tuple[str, date]] = []
    for index, course in enumerate(courses):
        pre = course[0] - timedelta(days=rng.randint(1, 20))
        if pre <= today:
            results.extend((analyte, pre) for analyte in BASELINE)
        stop = courses[index + 1][0] if index + 1 < len(courses) else course[-1] + timedelta(1461)
        for month in range(1, 49):
            due = course[-1] + timedelta(days=round(30.44 * month))
            if due >= stop or due > today:
                break
            if rng.random() > adherence:
                continue
            late = rng.random() < 0.08
            on = due + timedelta(days=rng.randint(8, 25) if late else rng.randint(-6, 6))
            if on > today:
                continue
            drawn = MONTHLY + (("tsh",) if month % 3 == 0 else ())
            drawn += ("skin_exam",) if month % 12 == 0 else ()
            results.extend((analyte, on) for analyte in drawn)
    return results


def chunks(total: int, size: int) -> Iterator[range]:
    """Patient numbers 1..total in ranges of `size`, so memory stays bounded at any N."""
    for low in range(1, total + 1, size):
        yield range(low, min(low + size, total + 1))


def patient_kinds(args: argparse.Namespace) -> Callable[[], str]:
    """Each next patient's kind: always "alem", or drawn from MIX with its own random stream
    (so the clinic's other random numbers do not depend on the mix)."""
    if getattr(args, "mix", "alemtuzumab") == "alemtuzumab":
        return lambda: "alem"
    picker = random.Random(args.seed + 1)
    kinds, weights = list(MIX), list(MIX.values())
    return lambda: picker.choices(kinds, weights=weights)[0]


def load_clinic(
    engine: Engine, args: argparse.Namespace, kinds: dict[str, int] | None = None
) -> dict[str, int]:
    """Insert patients, treatments, courses, infusions, results and waivers with Core inserts
    (not timed against a target: it is the setup). Ids are given explicitly so no RETURNING is
    needed. Each treatment carries its protocol's fingerprint and, when open-ended, how far it
    will be planned (what the rebuild would store), so the readers take the schedules as
    current."""
    rng = random.Random(args.seed)
    next_kind = patient_kinds(args)
    horizon_on = add_months(args.today, PLAN_AHEAD_MONTHS)
    counts: dict[str, int] = defaultdict(int)
    course_id = treatment_id = 0
    for numbers in chunks(args.patients, args.chunk):
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for number in numbers:
            kind = next_kind()
            if kinds is not None:
                kinds[kind] = kinds.get(kind, 0) + 1
            patient = synthetic_patient(rng, number, args.today, kind)
            rows["patients"].append(_patient_row(patient))
            for treatment in patient.treatments:
                treatment_id += 1
                rows["treatments"].append(
                    _treatment_row(treatment, treatment_id, number, horizon_on)
                )
                for course in treatment.courses:
                    course_id += 1
                    rows["courses"].append(
                        {
                            "id": course_id,
                            "patient_id": number,
                            "treatment_id": treatment_id,
                            "first_on": course[0],
                            "last_on": course[-1],
                            "created_at": NOW,
                        }
                    )
                    rows["infusions"].extend(
                        {"course_id": course_id, "infused_on": day} for day in course
                    )
            rows["results"].extend(
                {
                    "patient_id": number,
                    "analyte": analyte,
                    "value": "1",
                    "unit": "x",
                    "collected_on": on,
                    "is_menstruating": False,
                    "source": "bench",
                    "received_at": NOW,
                }
                for analyte, on in patient.results
            )
            if patient.waiver:
                rows["waivers"].append(
                    {
                        "patient_id": number,
                        "protocol": patient.waiver[0],
                        "panel": patient.waiver[1],
                        "due_on": patient.waiver[2],
                        "waived_by": "bench",
                        "reason": "bench",
                        "waived_at": NOW,
                    }
                )
        with engine.begin() as connection:
            for name in ("patients", "treatments", "courses", "infusions", "results", "waivers"):
                if rows[name]:
                    table = models.Base.metadata.tables[name]
                    insert_rows_on(connection, table, with_defaults(table, rows[name]))
                    counts[name] += len(rows[name])
        if getattr(args, "progress", False):
            print(f"  loaded {numbers.stop - 1:,} patients", file=sys.stderr, flush=True)
    return dict(counts)


def with_defaults(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with the columns' scalar Python-side defaults filled in (the bulk insert, COPY on
    PostgreSQL, does not apply them as a Core insert would)."""
    missing = {
        column.name: _stored_value(column.default.arg)
        for column in table.columns
        if column.name not in rows[0] and column.default is not None and column.default.is_scalar
    }
    if not missing:
        return rows
    return [{**missing, **row} for row in rows]


def _stored_value(value: Any) -> Any:
    """An enum default as the value the column stores (COPY would otherwise get its name)."""
    return value.value if isinstance(value, enum.Enum) else value


def _treatment_row(
    treatment: SyntheticTreatment, treatment_id: int, patient_id: int, horizon_on: date
) -> dict[str, Any]:
    plan = CATALOGUE.plan(treatment.protocol)
    domain = Treatment(treatment.protocol, treatment.started_on, treatment.stopped_on)
    return {
        "id": treatment_id,
        "patient_id": patient_id,
        "protocol": treatment.protocol,
        "started_on": treatment.started_on,
        "stopped_on": treatment.stopped_on,
        "stop_reason": "bench" if treatment.stopped_on else None,
        "schedule_fingerprint": CATALOGUE.fingerprint(treatment.protocol),
        "planned_until_on": horizon_on if has_open_series(domain, plan, None) else None,
        "created_at": NOW,
    }


def _patient_row(patient: SyntheticPatient) -> dict[str, Any]:
    return {
        "id": patient.number,
        "mrn": f"B{patient.number:07d}",
        "name": "Synthetic Patient",
        "email": f"p{patient.number}@example.org",
        "email_opted_out": False,
        "site": "main" if patient.number % 3 else "north",
        "status": patient.status,
        "status_on": patient.status_on,
        "created_at": NOW,
    }


# ---------------------------------------------------------------- databases


@dataclass
class Backend:
    """The product's engine and a raw DBAPI connection to the same database, for the floor."""

    name: str
    engine: Engine
    raw: Any
    placeholder: Callable[[str], str]  # ":name" -> the driver's parameter style
    cleanup: Callable[[], None]
    url: str = ""


def open_sqlite(args: argparse.Namespace) -> Backend:
    """A fresh file in a temporary folder (WAL needs a real file); deleted at the end."""
    folder = tempfile.TemporaryDirectory(prefix="monitor-bench-")
    path = Path(folder.name) / "bench.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    raw = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "busy_timeout=30000",
        "foreign_keys=ON",
        "synchronous=NORMAL",
    ):
        raw.execute(f"PRAGMA {pragma}")  # the product's own settings (store/db.py)
    sqlite3.register_adapter(date, date.isoformat)  # what SQLAlchemy stores for a Date

    def cleanup() -> None:
        raw.close()
        engine.dispose()
        folder.cleanup()

    return Backend("sqlite", engine, raw, lambda sql: sql, cleanup, f"sqlite:///{path}")


def open_postgresql(args: argparse.Namespace) -> Backend:
    """A dedicated database, created fresh and dropped at the end (AUTOCOMMIT for both)."""
    import psycopg

    admin_url = args.pg_url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.pg_database}")
        admin.execute(f"CREATE DATABASE {args.pg_database}")
    url = admin_url.rsplit("/", 1)[0] + "/" + args.pg_database
    engine = make_engine(url)
    upgrade(engine)
    raw = psycopg.connect(url)

    def cleanup() -> None:
        raw.close()
        engine.dispose()
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {args.pg_database}")

    return Backend("postgresql", engine, raw, _pyformat, cleanup, url)


def _pyformat(sql: str) -> str:
    """`:d` -> `%(d)s` for psycopg; the benchmark's SQL has no other colons or percent signs."""
    return re.sub(r":(\w+)", r"%(\1)s", sql)


def raw_execute(backend: Backend, sql: str, params: Any = None) -> list[Any]:
    """Run one statement on the raw connection and fetch everything it returns."""
    cursor = backend.raw.cursor()
    cursor.execute(backend.placeholder(sql), params or {})
    rows = cursor.fetchall() if cursor.description else []
    cursor.close()
    return rows


def raw_commit(backend: Backend) -> None:
    if backend.name == "postgresql":
        backend.raw.commit()


def create_floor_table(backend: Backend) -> None:
    """`slots_floor`: the columns and keys of `slots` written by hand, plus a copy of every
    secondary index the migrations put on `slots` (read from the catalogue, so the floor pays
    for the same indexes whatever the latest migration added)."""
    key = "id SERIAL PRIMARY KEY" if backend.name == "postgresql" else "id INTEGER PRIMARY KEY"
    raw_execute(
        backend,
        f"""
        CREATE TABLE slots_floor (
            {key},
            patient_id INTEGER NOT NULL REFERENCES patients (id),
            protocol VARCHAR(32) NOT NULL, treatment INTEGER NOT NULL,
            panel VARCHAR(32) NOT NULL, due_on DATE NOT NULL,
            window_start DATE NOT NULL, window_end DATE NOT NULL,
            course INTEGER, kind VARCHAR(16) NOT NULL,
            next_window_start DATE, done_on DATE, completed_on DATE,
            is_waived BOOLEAN NOT NULL, is_cancelled BOOLEAN NOT NULL,
            UNIQUE (patient_id, protocol, panel, due_on))""",
    )
    for ddl in slot_index_ddl(backend):
        raw_execute(backend, ddl)
    raw_commit(backend)


def slot_index_ddl(backend: Backend) -> list[str]:
    """CREATE INDEX statements of `slots`' secondary indexes, renamed onto `slots_floor`."""
    if backend.name == "sqlite":
        found = raw_execute(
            backend,
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'slots' "
            "AND sql IS NOT NULL",
        )
    else:
        found = raw_execute(
            backend,
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'slots' "
            "AND left(indexname, 3) NOT IN ('pk_', 'uq_')",
        )
    statements = []
    for name, ddl in found:
        ddl = re.sub(r"\bON (public\.)?\"?slots\"?\s", "ON slots_floor ", ddl, count=1)
        statements.append(ddl.replace(name, f"{name}_floor", 1))
    return statements


# ---------------------------------------------------------------- measurements


@dataclass
class Figures:
    """Everything one run measured; seconds unless the name says otherwise."""

    backend: str
    patients: int
    counts: dict[str, int] = field(default_factory=dict)
    setup: float = 0.0
    read: float = 0.0
    compute: float = 0.0
    compute_cpu: float = 0.0
    store: float = 0.0
    floor_store: float = 0.0
    overdue: float = 0.0
    overdue_first: float = 0.0
    floor_overdue: float = 0.0
    overdue_rows: int = 0
    schedule: float = 0.0
    floor_schedule: float = 0.0
    schedule_slots: int = 0
    peak_mb: dict[str, float] = field(default_factory=dict)
    index_trials: list[tuple[str, float, float]] = field(default_factory=list)
    overdue_command: float = 0.0
    overdue_command_runs: list[float] = field(default_factory=list)
    overdue_runs: list[float] = field(default_factory=list)
    daily_first: float = 0.0
    daily_first_queued: int = 0
    daily: float = 0.0
    daily_runs: list[float] = field(default_factory=list)
    daily_queued: list[int] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    mix: str = "alemtuzumab"
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PatientInputs = tuple[list[Treatment], list[CountedResult], set[tuple[str, str, date]], date | None]


def read_inputs(engine: Engine, numbers: range) -> dict[int, PatientInputs]:
    """A chunk's treatments (with their courses), results, waivers and stop dates, one range
    query per table: what a full rebuild reads (one query per table per chunk, not per
    patient)."""
    low, high = numbers.start, numbers.stop
    p, t, c, i = models.Patient, models.Treatment, models.Course, models.Infusion
    r, w = models.Result, models.Waiver
    with engine.connect() as connection:
        patients = connection.execute(
            select(p.id, p.status, p.status_on).where(p.id >= low, p.id < high)
        ).all()
        treatments = connection.execute(
            select(t.patient_id, t.id, t.protocol, t.started_on, t.stopped_on)
            .where(t.patient_id >= low, t.patient_id < high)
            .order_by(t.patient_id, t.id)
        ).all()
        infusions = connection.execute(
            select(c.treatment_id, c.id, i.infused_on)
            .join(i, i.course_id == c.id)
            .where(c.patient_id >= low, c.patient_id < high)
            .order_by(c.treatment_id, c.first_on, i.infused_on)
        ).all()
        results = connection.execute(
            select(r.patient_id, r.analyte, r.collected_on).where(
                r.patient_id >= low, r.patient_id < high, r.status.in_(COUNTING_STATUSES)
            )
        ).all()
        waivers = connection.execute(
            select(w.patient_id, w.protocol, w.panel, w.due_on).where(
                w.patient_id >= low, w.patient_id < high
            )
        ).all()
    days: dict[int, dict[int, list[date]]] = defaultdict(lambda: defaultdict(list))
    for treatment_id, course_id, infused_on in infusions:
        days[treatment_id][course_id].append(infused_on)
    planned: dict[int, list[Treatment]] = defaultdict(list)
    for patient_id, treatment_id, protocol, started_on, stopped_on in treatments:
        courses = tuple(Course(tuple(d)) for d in days[treatment_id].values())
        planned[patient_id].append(Treatment(protocol, started_on, stopped_on, courses))
    counted: dict[int, list[CountedResult]] = defaultdict(list)
    for patient_id, analyte, collected_on in results:
        counted[patient_id].append(CountedResult(analyte, collected_on))
    waived: dict[int, set[tuple[str, str, date]]] = defaultdict(set)
    for patient_id, protocol, panel, due_on in waivers:
        waived[patient_id].add((protocol, panel, due_on))
    stopped = STOPPED_STATUSES
    return {
        pid: (
            planned[pid],
            counted[pid],
            waived[pid],
            status_on if status in stopped else None,
        )
        for pid, status, status_on in patients
    }


def chunk_slot_rows(
    inputs: dict[int, PatientInputs], catalogue: Catalogue, horizon_on: date
) -> list[dict[str, Any]]:
    """The slot rows of a chunk's patients: `plan_slots` + `slot_rows`, as a rebuild does."""
    rows: list[dict[str, Any]] = []
    for patient_id, (treatments, results, waived, stopped_on) in inputs.items():
        progress = plan_slots(
            treatments, results, catalogue, stopped_on=stopped_on, horizon_on=horizon_on
        )
        rows.extend(slot_rows(patient_id, progress, waived, stopped_on))
    return rows


def build_and_store(backend: Backend, args: argparse.Namespace, figures: Figures) -> None:
    """Rebuild every patient's slots chunk by chunk: read (product), compute with `plan_slots`
    + `slot_rows` (product), Core insert into `slots` (product), then the same rows as tuples
    with the raw `executemany` into `slots_floor` (floor). Each part is timed on its own."""
    insert = models.Slot.__table__.insert()
    horizon_on = add_months(args.today, PLAN_AHEAD_MONTHS)
    floor_sql = positional(
        backend,
        f"INSERT INTO slots_floor ({', '.join(SLOT_COLUMNS)}) "
        f"VALUES ({', '.join(':' + c for c in SLOT_COLUMNS)})",
    )
    slots = 0
    for numbers in chunks(args.patients, args.chunk):
        started = time.perf_counter()
        inputs = read_inputs(backend.engine, numbers)
        read_done, cpu_started = time.perf_counter(), time.process_time()
        rows = chunk_slot_rows(inputs, CATALOGUE, horizon_on)
        computed, cpu_done = time.perf_counter(), time.process_time()
        with backend.engine.begin() as connection:
            connection.execute(insert, rows)
        stored = time.perf_counter()
        figures.read += read_done - started
        figures.compute += computed - read_done
        figures.compute_cpu += cpu_done - cpu_started
        figures.store += stored - computed
        figures.floor_store += floor_insert(backend, floor_sql, rows)
        slots += len(rows)
        del rows, inputs
        if args.progress:
            print(
                f"  {numbers.stop - 1} patients, {slots} slots, {peak_rss_mb():.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    figures.counts["slots"] = slots


def floor_insert(backend: Backend, sql: str, rows: list[dict[str, Any]]) -> float:
    """The same rows, pre-converted to tuples (untimed), through `cursor.executemany`."""
    tuples = [tuple(row[c] for c in SLOT_COLUMNS) for row in rows]
    cursor = backend.raw.cursor()
    started = time.perf_counter()
    if backend.name == "sqlite":
        cursor.execute("BEGIN IMMEDIATE")
        cursor.executemany(sql, tuples)
        cursor.execute("COMMIT")
    else:
        cursor.executemany(sql, tuples)
        backend.raw.commit()
    elapsed = time.perf_counter() - started
    cursor.close()
    return elapsed


def positional(backend: Backend, sql: str) -> str:
    """Named `:col` placeholders -> `?` (sqlite3) or `%s` (psycopg), in column order."""
    return re.sub(r":\w+", "?" if backend.name == "sqlite" else "%s", sql)


HAND_MISSED = """
           (SELECT count(*) FROM slots e
             WHERE e.patient_id = s.patient_id AND e.protocol = s.protocol
               AND e.treatment = s.treatment AND e.panel = s.panel
               AND e.window_end < :d AND e.next_window_start <= :d
               AND (e.completed_on IS NULL OR e.completed_on > :d)
               AND NOT e.is_waived AND NOT e.is_cancelled)"""
HAND_OPEN = """
       s.window_end < :d AND (s.next_window_start IS NULL OR s.next_window_start > :d)
       AND NOT s.is_waived AND NOT s.is_cancelled
       AND (p.status = 'active' OR p.status_on IS NULL OR p.status_on > :d)"""


def hand_overdue() -> str:
    """The same two halves as `queries.overdue_list` (never completed / completed after D),
    ordered by due date, MRN, then protocol id and the protocol's panel order."""
    ranks = " ".join(
        f"WHEN protocol = '{protocol}' AND panel = '{panel}' THEN {rank}"
        for (protocol, panel), rank in CATALOGUE.panel_ranks().items()
    )
    columns = "p.id, p.mrn, p.site, s.panel, s.due_on, s.protocol, s.treatment"
    return f"""
    SELECT * FROM (
        SELECT {columns}, {HAND_MISSED} AS missed
          FROM slots s JOIN patients p ON p.id = s.patient_id
         WHERE s.completed_on IS NULL AND {HAND_OPEN}
        UNION ALL
        SELECT {columns}, {HAND_MISSED} AS missed
          FROM slots s JOIN patients p ON p.id = s.patient_id
         WHERE s.completed_on > :d AND {HAND_OPEN}
    ) AS overdue
    ORDER BY due_on, mrn, CASE {ranks} END
"""


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(first call, median of the next `repeat` calls, last value): the first call is shown on
    its own because it pays for cold caches and SQLAlchemy's statement compilation."""
    started = time.perf_counter()
    value = function()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - started)
    LAST_RUNS[:] = times
    return first, statistics.median(times), value


LAST_RUNS: list[float] = []  # the timed calls of the latest `timed`, for the report


def measure_overdue(backend: Backend, args: argparse.Namespace, figures: Figures) -> None:
    """`overdue_list` against the hand-written query, and check both return the same rows."""
    ranks = CATALOGUE.panel_ranks()
    hand = hand_overdue()

    def product() -> list[Any]:
        with Session(backend.engine) as session:
            return overdue_list(session, args.today, ranks)

    def floor() -> list[Any]:
        return raw_execute(backend, hand, {"d": args.today})

    figures.overdue_first, figures.overdue, listed = timed(product, args.repeat)
    figures.overdue_runs = list(LAST_RUNS)
    _, figures.floor_overdue, found = timed(floor, args.repeat)
    raw_commit(backend)
    figures.overdue_rows = len(listed)
    ours = [
        (row.patient_id, row.protocol, row.panel, _as_date(row.due_on), row.missed)
        for row in listed
    ]
    theirs = [(r[0], r[5], r[3], _as_date(r[4]), r[7]) for r in found]
    if ours != theirs:
        raise SystemExit("overdue_list and the hand-written query disagree")


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def bench_config_path() -> Path:
    """BENCH_CONFIG in a file of the temporary folder (rewritten each run)."""
    path = Path(tempfile.gettempdir()) / f"monitor-bench-config-{os.getpid()}.toml"
    path.write_text(BENCH_CONFIG)
    return path


def measure_overdue_command(backend: Backend, args: argparse.Namespace, figures: Figures) -> None:
    """`monitor overdue --json` as a nurse runs it: a new process each time (start-up, config,
    the freshness check, the query, the JSON), median of `--cycle-repeat` after one untimed."""
    command = [
        str(Path(sys.executable).with_name("monitor")),
        "--config",
        str(bench_config_path()),
        "--database",
        backend.url,
        "overdue",
        "--json",
        "--as-of",
        args.today.isoformat(),
    ]
    raw_commit(backend)

    def run() -> int:
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        return done.stdout.count('"mrn"')

    _, figures.overdue_command, listed = timed(run, args.cycle_repeat)
    figures.overdue_command_runs = list(LAST_RUNS)
    if listed != figures.overdue_rows:
        raise SystemExit(
            f"monitor overdue --json listed {listed} rows, overdue_list gave {figures.overdue_rows}"
        )


def measure_daily(backend: Backend, args: argparse.Namespace, figures: Figures) -> None:
    """`services.mail.daily.run_daily` (the whole cycle, one transaction) on D, then on each of
    the `--cycle-repeat` days after it: the first run queues every reminder already due by D
    (a clinic's first day), the next ones are the steady state whose median is reported."""
    config = load_config(bench_config_path())
    raw_commit(backend)

    def run(day: date) -> tuple[float, int]:
        now = datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC)
        started = time.perf_counter()
        report = run_daily(backend.engine, on=day, config=config, now=now)
        return time.perf_counter() - started, report.queued + report.skipped

    figures.daily_first, figures.daily_first_queued = run(args.today)
    for offset in range(1, args.cycle_repeat + 1):
        elapsed, queued = run(args.today + timedelta(days=offset))
        figures.daily_runs.append(elapsed)
        figures.daily_queued.append(queued)
    figures.daily = statistics.median(figures.daily_runs)


# Candidate indexes for the overdue list, tried one at a time with --try-indexes (migration
# 0006 already adds ix_slots_open, ix_slots_missed and ix_slots_completed_on).
CANDIDATE_INDEXES = {
    "covering open": "CREATE INDEX ix_bench_open_cover ON slots "
    "(window_end, next_window_start, is_waived, is_cancelled, patient_id, panel, due_on) "
    "WHERE completed_on IS NULL",
}


def try_indexes(backend: Backend, args: argparse.Namespace, figures: Figures) -> None:
    """Time both overdue queries with each candidate index added ad hoc, then drop it; on
    PostgreSQL also with JIT compilation off (its cost estimate makes the planner JIT-compile
    this query, which takes longer than running it)."""
    if backend.name == "postgresql":
        raw_execute(backend, f"ALTER DATABASE {args.pg_database} SET jit = off")
        raw_execute(backend, "SET jit = off")
        raw_commit(backend)
        backend.engine.dispose()  # new connections pick up the database setting
        trial = Figures(backend.name, args.patients)
        measure_overdue(backend, args, trial)
        figures.index_trials.append(("none, jit = off", trial.overdue, trial.floor_overdue))
    for label, ddl in CANDIDATE_INDEXES.items():
        name = ddl.split()[2]
        raw_execute(backend, ddl)
        raw_execute(backend, "ANALYZE slots")
        raw_commit(backend)
        trial = Figures(backend.name, args.patients)
        measure_overdue(backend, args, trial)
        figures.index_trials.append((label, trial.overdue, trial.floor_overdue))
        raw_execute(backend, f"DROP INDEX {name}")
        raw_commit(backend)


def measure_schedule(backend: Backend, args: argparse.Namespace, figures: Figures) -> None:
    """`patient_schedule` for the patient with the most courses (the largest schedule), against
    the hand-written reads it needs: the patient, its infusions (for the monitoring end) and its
    stored slots (the view reads the slots table, rebuilt at every change)."""
    mrn, patient_id = raw_execute(
        backend,
        """
        SELECT p.mrn, p.id FROM patients p JOIN courses c ON c.patient_id = p.id
         GROUP BY p.id, p.mrn ORDER BY count(*) DESC, p.id LIMIT 1""",
    )[0]

    def product() -> Any:
        with Session(backend.engine) as session:
            return patient_schedule(session, mrn, args.today, CATALOGUE, args.today)

    def floor() -> Any:
        params = {"m": mrn, "p": patient_id}
        return (
            raw_execute(
                backend, "SELECT id, status, status_on FROM patients WHERE mrn = :m", params
            ),
            raw_execute(
                backend,
                "SELECT c.id, i.infused_on FROM courses c JOIN infusions i "
                "ON i.course_id = c.id WHERE c.patient_id = :p "
                "ORDER BY c.first_on, i.infused_on",
                params,
            ),
            raw_execute(
                backend,
                "SELECT protocol, treatment, panel, due_on, window_start, window_end, course, "
                "kind, "
                "next_window_start, done_on, completed_on, is_waived, is_cancelled "
                "FROM slots WHERE patient_id = :p ORDER BY due_on",
                params,
            ),
        )

    _, figures.schedule, view = timed(product, args.repeat * 4)
    _, figures.floor_schedule, _ = timed(floor, args.repeat * 4)
    raw_commit(backend)
    figures.schedule_slots = len(view.slots)


def run_backend(args: argparse.Namespace) -> Figures:
    """One database from empty to measured, then dropped."""
    backend = (open_sqlite if args.database == "sqlite" else open_postgresql)(args)
    figures = Figures(backend.name, args.patients, mix=args.mix)
    figures.load_start = os.getloadavg()
    try:
        started = time.perf_counter()
        figures.counts = load_clinic(backend.engine, args, figures.kinds)
        create_floor_table(backend)
        figures.setup = time.perf_counter() - started
        figures.peak_mb["after setup"] = peak_rss_mb()
        build_and_store(backend, args, figures)
        figures.peak_mb["after build"] = peak_rss_mb()
        if backend.name == "postgresql":
            with backend.engine.begin() as connection:  # what autovacuum would have done
                connection.execute(text("ANALYZE"))
        measure_overdue(backend, args, figures)
        measure_overdue_command(backend, args, figures)
        measure_schedule(backend, args, figures)
        if args.try_indexes:
            try_indexes(backend, args, figures)
        measure_daily(backend, args, figures)  # last: it writes notices and outbox rows
        figures.peak_mb["end"] = peak_rss_mb()
        figures.load = os.getloadavg()
    finally:
        backend.cleanup()
    return figures


# ---------------------------------------------------------------- report


def report(f: Figures) -> str:
    """A Markdown table: product, floor, ratio, target."""
    build = f.read + f.compute + f.store
    scale = 100_000 / f.patients

    def ratio(product: float, floor: float) -> str:
        return f"{product / floor:.1f}" if floor else "-"

    counts = ", ".join(f"{v:,} {k}" for k, v in f.counts.items())
    kinds = ", ".join(f"{k} {v:,}" for k, v in f.kinds.items())
    lines = [
        f"### {f.backend}, {f.patients:,} patients",
        "",
        f"Data ({f.mix}: {kinds}): {counts}. Setup (generate + Core insert of the clinic): "
        f"{f.setup:.1f} s. Load average (1/5/15 min) at the start: "
        f"{' / '.join(f'{x:.2f}' for x in f.load_start)}, at the end: "
        f"{' / '.join(f'{x:.2f}' for x in f.load)} on {os.cpu_count()} CPUs. Overdue list "
        f"timed calls: {_runs(f.overdue_runs)}.",
        "",
        "| measure | product | raw-SQL floor | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| build + store every schedule | {build:.1f} s | {f.floor_store:.1f} s | "
        f"{ratio(build, f.floor_store)} | 100k patients < 60 s "
        f"(this run scaled to 100k: {build * scale:.0f} s) |",
        f"| - read courses/results (Core selects) | {f.read:.1f} s | | | |",
        f"| - compute (`plan_slots` + `slot_rows`) | {f.compute:.1f} s "
        f"(CPU {f.compute_cpu:.1f} s) | | | |",
        f"| - store (Core insert vs `executemany`) | {f.store:.1f} s | {f.floor_store:.1f} s | "
        f"{ratio(f.store, f.floor_store)} | ratio < 3 |",
        f"| overdue list as of {f'{f.patients:,}'} patients ({f.overdue_rows:,} rows), "
        f"median | {f.overdue:.3f} s | {f.floor_overdue:.3f} s | "
        f"{ratio(f.overdue, f.floor_overdue)} | 10k patients < 0.5 s |",
        f"| - overdue list, first call | {f.overdue_first:.3f} s | | | |",
        f"| one patient's `schedule` ({f.schedule_slots} slots), median | "
        f"{f.schedule * 1000:.1f} ms | {f.floor_schedule * 1000:.1f} ms | "
        f"{ratio(f.schedule, f.floor_schedule)} | ratio < 3 |",
        f"| `monitor overdue --json`, whole command, median of {len(f.overdue_command_runs)} "
        f"({_runs(f.overdue_command_runs)}) | {f.overdue_command:.3f} s | | | |",
        f"| daily cycle (`run_daily`), first run on D ({f.daily_first_queued:,} rows queued or "
        f"skipped) | {f.daily_first:.3f} s | | | |",
        f"| daily cycle, D+1 .. D+{len(f.daily_runs)}, median ({_runs(f.daily_runs)}; "
        f"{', '.join(str(q) for q in f.daily_queued)} rows) | {f.daily:.3f} s | | | |",
        f"| peak memory (maxrss) | {max(f.peak_mb.values()):.0f} MB | | | < 1 GB |",
    ]
    for label, product, floor in f.index_trials:
        lines.append(
            f"| overdue list with index '{label}' | {product:.3f} s | {floor:.3f} s | "
            f"{ratio(product, floor)} | |"
        )
    peaks = ", ".join(f"{k} {v:.0f} MB" for k, v in f.peak_mb.items())
    lines += ["", f"Peak RSS by phase: {peaks}."]
    return "\n".join(lines)


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times) + " s" if times else "-"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--chunk", type=int, default=250, help="patients per rebuild batch")
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 27))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats of each query")
    parser.add_argument(
        "--mix",
        choices=("alemtuzumab", "mixed"),
        default="alemtuzumab",
        help="alemtuzumab courses only, or MIX: 40%% alemtuzumab, 30%% dimethyl fumarate, "
        "20%% both, 10%% cladribine",
    )
    parser.add_argument(
        "--cycle-repeat", type=int, default=3, help="timed runs of the command and daily cycle"
    )
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="any database on the server")
    parser.add_argument(
        "--pg-database", default=PG_BENCH_DATABASE, help="created beside it, dropped at the end"
    )
    parser.add_argument("--try-indexes", action="store_true", help="time candidate indexes")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--progress", action="store_true", help="print each chunk to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.database == "both":
        # One process per database, so each peak-memory figure is that database's own.
        forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
        for name in ("sqlite", "postgresql"):
            command = [sys.executable, __file__, *_without_database(forwarded), "--database", name]
            subprocess.run(command, check=True)
        return
    print(report(run_backend(args)), flush=True)


def _without_database(argv: list[str]) -> list[str]:
    cleaned, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--database":
            skip = True
        elif not item.startswith("--database="):
            cleaned.append(item)
    return cleaned


if __name__ == "__main__":
    main()
