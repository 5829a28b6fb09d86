"""Benchmark: `patient list` and the Patients page's search at 10,000 patients (issue 14 item 2).

    python bench/bench_patient_search.py --patients 10000 --repeat 7
    python bench/bench_patient_search.py --pg-url postgresql://postgres@127.0.0.1:5432/bench

Fills a fresh database (a temporary SQLite file, or the PostgreSQL database given, emptied
first) with synthetic patients (invented names, a fifth of them accented, four sites), then
times `services.people.directory.patient_list` (one query, then the accent-folded match in
Python) for a search by name, a search by MRN, a site filter and the whole list, and prints the
median and the slowest of `--repeat` runs. A script, not a test: nothing fails here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout

from monitor.domain.vocabulary import PatientStatus  # noqa: E402
from monitor.services.people.directory import patient_list  # noqa: E402
from monitor.store.db import make_engine, unit_of_work  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402
from monitor.store.models import Patient  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIRST = ["Ann", "José", "Zoë", "Li", "Mark", "Renée", "Sam", "Åsa", "Omar", "Kim"]
LAST = ["Example", "Pérez", "Müller", "Smith", "O'Brien", "Nguyen", "García", "Brown", "Øst"]
SITES = ["main", "north", "south", "east"]


def fill(engine: Engine, count: int) -> None:
    rows = [
        {
            "mrn": f"MS{n:06d}",
            "name": f"{FIRST[n % len(FIRST)]} {LAST[(n // 7) % len(LAST)]} {n}",
            "born_on": date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
            "sex": "FMX"[n % 3],
            "site": SITES[n % len(SITES)],
            "created_at": NOW,
        }
        for n in range(count)
    ]
    with unit_of_work(engine) as session:
        session.execute(insert(Patient), rows)


def timed(run: Callable[[], int], repeat: int) -> tuple[float, float, int]:
    seconds, found = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        found = run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), max(seconds), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pg-url", help="a PostgreSQL database to empty and use")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.pg_url or f"sqlite:///{folder}/bench.db"
        engine = make_engine(url)
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(engine)
        fill(engine, args.patients)

        def search(**filters: object) -> Callable[[], int]:
            def run() -> int:
                with unit_of_work(engine) as session:
                    return len(patient_list(session, **filters))  # type: ignore[arg-type]

            return run

        cases = {
            'search "jose perez" (accents folded)': search(search="jose perez"),
            'search "MS004321" (an MRN)': search(search="MS004321"),
            "site north, active": search(site="north", status=PatientStatus.ACTIVE),
            "the whole list": search(),
        }
        print(f"{engine.dialect.name}, {args.patients} patients, median of {args.repeat}")
        for name, run in cases.items():
            median, slowest, found = timed(run, args.repeat)
            print(f"  {name}: {median * 1000:.1f} ms (slowest {slowest * 1000:.1f}), {found} found")
        engine.dispose()


if __name__ == "__main__":
    main()
