"""Benchmark: importing pathological lab files (issue 11 item 10), phase by phase.

    python bench/bench_import.py                          # HL7 and FHIR, 1,000 to 20,000 items
    python bench/bench_import.py --sizes 20000 --format hl7 --profile
    python bench/bench_import.py --database postgresql --pg-url postgresql://...
    python bench/bench_import.py --throughput --database both --keep  # see import_throughput.py

Builds one HL7 ORU^R01 message with N OBX segments (one OBR, each OBX its own observation time,
so every result is new) and one FHIR Bundle with N Observation entries, for one patient with a
course, and times the real code: `adapters.formats.parse_text` (parse) and
`services.results.imports.import_items` in one transaction, as `monitor import` runs it (import).
Each size runs on a freshly migrated database, so every run stores every result.

With the file limits in force (`monitor.adapters.limits`), a file over the limit is one
quarantined item and the timings show what a refusal costs; `--no-limits` lifts them to measure
the code itself. `--profile` prints the top functions by cumulative time (cProfile) for the
largest size. A script, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout

from monitor.adapters import limits  # noqa: E402
from monitor.adapters.formats import parse_text  # noqa: E402
from monitor.config import Config  # noqa: E402
from monitor.services.people.courses import add_course  # noqa: E402
from monitor.services.people.patients import add_patient  # noqa: E402
from monitor.services.results.imports import ImportContext, ImportReport, import_items  # noqa: E402
from monitor.store.db import make_engine, unit_of_work  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402

MRN = "BENCH1"
FIRST_TAKEN = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)  # one result an hour from here
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TODAY = date(2026, 1, 5)
ANALYTES = (  # LOINC, unit, a normal value
    ("777-3", "10*9/L", "210"),
    ("751-8", "10*9/L", "4.1"),
    ("731-0", "10*9/L", "1.9"),
    ("2160-0", "mg/dL", "0.9"),
    ("3016-3", "mIU/L", "2.1"),
)


def hl7_message(n: int) -> str:
    """One ORU^R01, one OBR without a collection time, n OBX each with its own OBX-14."""
    segments = [
        "MSH|^~\\&|LAB|BENCHLAB|MON|CLINIC|20260105100000||ORU^R01|B1|P|2.5.1",
        f"PID|1||{MRN}^^^BENCH^MR||Bench^Ann",
        "OBR|1||ACC1|58410-2^CBC^LN",
    ]
    for i in range(n):
        code, unit, value = ANALYTES[i % len(ANALYTES)]
        taken = (FIRST_TAKEN + timedelta(hours=i)).strftime("%Y%m%d%H%M%S+0000")
        segments.append(f"OBX|{i + 1}|NM|{code}^^LN||{value}|{unit}|||||F|||{taken}")
    return "\r".join(segments) + "\r"


def fhir_bundle(n: int) -> str:
    """A collection Bundle: one Patient and n Observations, each with its own time and id."""
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"value": MRN}],
        "name": [{"family": "Bench"}],
    }
    entries: list[dict[str, Any]] = [{"fullUrl": "urn:uuid:p1", "resource": patient}]
    for i in range(n):
        code, unit, value = ANALYTES[i % len(ANALYTES)]
        taken = (FIRST_TAKEN + timedelta(hours=i)).isoformat()
        observation = {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "urn:uuid:p1"},
            "effectiveDateTime": taken,
            "valueQuantity": {"value": float(value), "unit": unit},
        }
        entries.append({"fullUrl": f"urn:uuid:o{i}", "resource": observation})
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


MAKERS: dict[str, Callable[[int], str]] = {"hl7": hl7_message, "fhir": fhir_bundle}


def fresh_database(url: str | None, folder: Path, label: str) -> Engine:
    if url is None:
        engine = make_engine(f"sqlite:///{folder / label}.db")
    else:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    config = Config()
    with unit_of_work(engine, config.catalogue) as session:
        add_patient(
            session,
            mrn=MRN,
            name="Ann Bench",
            email=None,
            born_on=None,
            sex="F",
            site="main",
            actor="bench",
            now=NOW,
        )
        add_course(
            session,
            mrn=MRN,
            infused_on=[date(2024, 1, 8) + timedelta(days=d) for d in range(5)],
            actor="bench",
            now=NOW,
        )
    return engine


def run_one(
    engine: Engine | None, fmt: str, n: int, profile: cProfile.Profile | None
) -> dict[str, Any]:
    """Parse, then (with an engine) import in one transaction, as `monitor import` does."""
    config = Config()
    document = MAKERS[fmt](n)
    if profile is not None:
        profile.enable()
    started = time.perf_counter()
    items = parse_text(document, fmt, config, source=None)
    parsed = time.perf_counter()
    report = ImportReport()
    if engine is not None:
        with unit_of_work(engine, config.catalogue) as session:
            report = import_items(session, items, ImportContext(config, TODAY, NOW))
    finished = time.perf_counter()
    if profile is not None:
        profile.disable()
    return {
        "format": fmt,
        "items": n,
        "bytes": len(document.encode()),
        "parse_s": parsed - started,
        "import_s": finished - parsed,
        "stored": report.stored,
        "quarantined": report.quarantined,
        "reason": report.problems[0][:70] if report.problems else "",
    }


def lift_limits() -> None:
    """The adapters read the limits at call time: raise them all out of reach."""
    for name in ("MAX_OBX_PER_MESSAGE", "MAX_FHIR_RESOURCES", "MAX_CSV_ROWS", "MAX_FILE_BYTES"):
        setattr(limits, name, sys.maxsize)


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| format | items | MB | parse s | import s | per item ms | stored | quarantined |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        per_item = 1000 * (row["parse_s"] + row["import_s"]) / max(1, row["items"])
        print(
            f"| {row['format']} | {row['items']:,} | {row['bytes'] / 1e6:.2f} | "
            f"{row['parse_s']:.2f} | {row['import_s']:.2f} | {per_item:.2f} | "
            f"{row['stored']:,} | {row['quarantined']:,} |"
        )
    for row in rows:
        if row["reason"]:
            print(f"\n{row['format']} {row['items']:,}: {row['reason']}")


def main() -> None:
    if "--throughput" in sys.argv:  # issue 15: whole `monitor import` processes, big clinic
        from import_throughput import main as throughput

        throughput([a for a in sys.argv[1:] if a != "--throughput"])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--format", choices=["hl7", "fhir", "both"], default="both")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("MONITOR_BENCH_PG_URL"))
    parser.add_argument("--profile", action="store_true", help="cProfile the largest size")
    parser.add_argument("--no-limits", action="store_true", help="lift the file limits")
    parser.add_argument("--parse-only", action="store_true", help="time parsing alone")
    args = parser.parse_args()
    if args.no_limits:
        lift_limits()
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = ["hl7", "fhir"] if args.format == "both" else [args.format]
    url = args.pg_url if args.database == "postgresql" else None
    if args.database == "postgresql" and not url:
        parser.error("--database postgresql needs --pg-url (a database this script may wipe)")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for fmt in formats:
            for n in sizes:
                profile = cProfile.Profile() if args.profile and n == max(sizes) else None
                engine = None if args.parse_only else fresh_database(url, Path(folder), f"{fmt}{n}")
                rows.append(run_one(engine, fmt, n, profile))
                if engine is not None:
                    engine.dispose()
                if profile is not None:
                    print(f"\n## cProfile, {fmt}, {n:,} items")
                    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    print_table(rows)


if __name__ == "__main__":
    main()
