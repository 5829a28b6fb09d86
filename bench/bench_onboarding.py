"""Benchmark: onboarding a caseload with `monitor patient import` (issue 14 item 1).

    python bench/bench_onboarding.py                                   # SQLite and PostgreSQL
    python bench/bench_onboarding.py --patients 10000 --mix mixed --database sqlite
    python bench/bench_onboarding.py --pg-url postgresql://postgres@127.0.0.1:5432/test_x

Generates a synthetic caseload CSV (one row per course or treatment, the template's columns:
`examples/caseload-template.csv`) and times `monitor patient import FILE` as a whole process
(`python -m monitor`, so start-up, reading, checking, writing and the slots are all in), on a
freshly migrated database each run, `--repeat` times (the median is reported). The migration
is outside the timer. Then it checks the counts: every patient, course and treatment is there.

Mixes: `alemtuzumab` (every patient 1 or 2 alemtuzumab courses, about 270 slots each) and
`mixed` (40 % alemtuzumab as above, 60 % on a continuous protocol, a fifth of them stopped).
A script, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout

from monitor.store.db import make_engine  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402
from monitor.store.models import Course, Patient, Slot, Treatment  # noqa: E402

COLUMNS = [
    "mrn",
    "name",
    "dob",
    "sex",
    "site",
    "email",
    "phone",
    "address",
    "course_dates",
    "protocol",
    "started_on",
    "stopped_on",
]
CONTINUOUS = ("dimethyl_fumarate", "natalizumab", "teriflunomide")
FIRST_NAMES = ("Ann", "Bea", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo")


def caseload_rows(patients: int, mix: str, seed: int = 14) -> list[dict[str, str]]:
    """One row per course or treatment; patient details repeated on each of a patient's rows."""
    rng = random.Random(seed)
    rows = []
    for number in range(patients):
        patient = {
            "mrn": f"ON{number:06d}",
            "name": f"{FIRST_NAMES[number % 10]} Sample{number}",
            "dob": (date(1960, 1, 1) + timedelta(days=rng.randrange(15000))).isoformat(),
            "sex": rng.choice("FM"),
            "site": rng.choice(("main", "north", "south")),
            "email": f"p{number}@patients.example" if rng.random() < 0.8 else "",
            "phone": f"0100 {number:06d}",
            "address": f"{number} Sample Street | Town" if rng.random() < 0.5 else "",
        }
        if mix == "alemtuzumab" or rng.random() < 0.4:
            first = date(2021, 1, 4) + timedelta(days=rng.randrange(1200))
            rows.append({**patient, "course_dates": _dates(first, 5)})
            if rng.random() < 0.5:
                rows.append({**patient, "course_dates": _dates(first + timedelta(days=371), 3)})
        else:
            started = date(2019, 1, 7) + timedelta(days=rng.randrange(2000))
            stopped = (
                started + timedelta(days=rng.randrange(60, 600)) if rng.random() < 0.2 else None
            )
            rows.append(
                {
                    **patient,
                    "protocol": rng.choice(CONTINUOUS),
                    "started_on": started.isoformat(),
                    "stopped_on": stopped.isoformat() if stopped else "",
                }
            )
    return rows


def _dates(first: date, days: int) -> str:
    return ";".join((first + timedelta(days=n)).isoformat() for n in range(days))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def fresh_url(kind: str, folder: Path, run: int, pg_url: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / f'onboard-{run}.db'}"
    engine = make_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return pg_url


def timed_import(url: str, path: Path) -> tuple[float, float]:
    """Wall seconds of the whole command, and its CPU seconds (user + system; a database
    server's own CPU is not in it)."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    command = [sys.executable, "-m", "monitor", "--database", url, "patient", "import", str(path)]
    environment = {**os.environ, "MONITOR_CONFIG": str(ROOT / "config.toml")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = {
            model.__tablename__: connection.execute(
                select(func.count()).select_from(model)
            ).scalar_one()
            for model in (Patient, Treatment, Course, Slot)
        }
    engine.dispose()
    return found


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--mix", choices=["alemtuzumab", "mixed"], default="alemtuzumab")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get("MONITOR_BENCH_PG_URL", ""))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in kinds and not args.pg_url:
        raise SystemExit("give --pg-url (or $MONITOR_BENCH_PG_URL) for PostgreSQL")
    rows = caseload_rows(args.patients, args.mix)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "caseload.csv"
        write_csv(path, rows)
        print(f"{args.patients:,} patients, {len(rows):,} rows ({args.mix}); {uptime()}")
        for kind in kinds:
            times, cpus = [], []
            found: dict[str, int] = {}
            for run in range(args.repeat):
                url = fresh_url(kind, Path(folder), run, args.pg_url)
                wall, cpu = timed_import(url, path)
                times.append(wall)
                cpus.append(cpu)
                found = counts(url)
                print(f"  {kind} run {run + 1}: {wall:.1f} s, CPU {cpu:.1f} s {found}", flush=True)
            shown = ", ".join(f"{t:.1f}" for t in times)
            print(
                f"| {kind} | {statistics.median(times):.1f} s ({shown}) | "
                f"CPU {statistics.median(cpus):.1f} s | {found} |"
            )
        print(f"end: {uptime()}")


if __name__ == "__main__":
    main()
