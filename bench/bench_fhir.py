"""Benchmark: FHIR API searches for a synthetic clinic, in process (the service, no HTTP).

    python bench/bench_fhir.py --patients 1000

Builds the clinic as bench_web.py does (SQLite in a temporary folder) and times, median of 5:
one patient's ServiceRequests (`patient=`), the first page of every patient's ServiceRequests
and of every Observation (`_count=50`, which reads every candidate: see search.py). A script,
not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_web import build_clinic  # noqa: E402

from monitor import clock  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.services.fhir.query import Query  # noqa: E402
from monitor.services.fhir.search import FhirContext, search  # noqa: E402
from monitor.store.db import make_engine, unit_of_work  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--mix", choices=("alemtuzumab", "mixed"), default="alemtuzumab")
    args = parser.parse_args()
    config = load_config(ROOT / "config.toml")
    args.today = clock.today_in(config.clinic.timezone)
    folder = tempfile.mkdtemp()
    engine = make_engine(f"sqlite:///{folder}/bench.db")
    counts = build_clinic(engine, args)
    context = FhirContext.of(config, args.today)
    cases = {
        "ServiceRequest?patient=<one>": Query(kind="ServiceRequest", patient=args.patients // 2),
        "ServiceRequest?_count=50": Query(kind="ServiceRequest"),
        "Observation?_count=50": Query(kind="Observation"),
    }
    print(f"{counts} (load {os.getloadavg()[0]:.1f})")
    for name, query in cases.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            with unit_of_work(engine, config.catalogue) as session:
                page = search(session, query, context)
            times.append(time.perf_counter() - started)
        print(f"{name}: median {statistics.median(times) * 1000:.0f} ms, total {page.total}")


if __name__ == "__main__":
    main()
