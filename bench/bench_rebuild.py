"""Benchmark: the stale-schedule check and the chunked rebuild after a `[protocol]` change.

Run from the repository root (BENCHMARKS.md has the figures):

    python bench/bench_rebuild.py --patients 2000 --database sqlite
    python bench/bench_rebuild.py --patients 2000 --database postgresql --pg-url URL

The clinic is `bench_schedule.py`'s synthetic one, loaded with Core inserts and no slots; the
loaded patients have slots only after a first rebuild, so the script stores them once under an
old protocol, then times: the freshness check when every patient is stale and when none is (what
each `schedule`/`overdue` command and each worklist page pays), and `rebuild_schedules` to the
new protocol (total, per patient, and the longest chunk: how long one transaction holds SQLite's
write lock). A script, not a timed test: nothing here fails.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_schedule import load_clinic

from monitor.config import Config
from monitor.domain.catalogue import DEFAULT_PROTOCOL_ID, Catalogue
from monitor.domain.lengths import Length, Unit
from monitor.domain.phases import ProtocolPlan
from monitor.services.schedule.fingerprints import (
    REBUILD_CHUNK,
    RebuildProgress,
    count_stale_patients,
    rebuild_schedules,
    schedules_are_current,
)
from monitor.store.db import make_engine, unit_of_work
from monitor.store.migrate import upgrade

PG_DATABASE = "monitor_rebuild_bench"
OLD = Config().catalogue


def tsh_every_two_months(plan: ProtocolPlan) -> ProtocolPlan:
    """`plan` with its tsh panel's phases every 2 months instead of 3."""
    two = Length(2, Unit.MONTHS)
    panels = tuple(
        replace(p, phases=tuple(replace(phase, every=two) for phase in p.phases))
        if p.name == "tsh"
        else p
        for p in plan.panels
    )
    return replace(plan, panels=panels)


# Alemtuzumab's TSH every 2 months: only the patients on alemtuzumab become stale.
NEW = Catalogue.of(
    [tsh_every_two_months(p) if p.id == DEFAULT_PROTOCOL_ID else p for p in OLD.plans]
)


def median_seconds(action: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def checks(engine: Engine) -> tuple[float, float]:
    """Median seconds of `schedules_are_current` and of `count_stale_patients` (NEW)."""

    def current() -> None:
        with unit_of_work(engine) as session:
            schedules_are_current(session, NEW)

    def count() -> None:
        with unit_of_work(engine) as session:
            count_stale_patients(session, NEW)

    return median_seconds(current), median_seconds(count)


def timed_rebuild(engine: Engine) -> tuple[float, float, RebuildProgress]:
    """Total seconds, the longest chunk's seconds, and what was done (NEW, stale only)."""
    chunk_times: list[float] = []
    last = [time.perf_counter()]

    def tick(_progress: RebuildProgress) -> None:
        now = time.perf_counter()
        chunk_times.append(now - last[0])
        last[0] = now

    started = time.perf_counter()
    done = rebuild_schedules(engine, NEW, only_stale=True, on_chunk=tick)
    return time.perf_counter() - started, max(chunk_times, default=0.0), done


def run(engine: Engine, args: argparse.Namespace, label: str) -> None:
    upgrade(engine)
    load = argparse.Namespace(
        patients=args.patients, chunk=REBUILD_CHUNK, seed=args.seed, today=args.today, mix=args.mix
    )
    counts = load_clinic(engine, load)
    rebuild_schedules(engine, OLD, only_stale=False)
    with engine.connect() as connection:
        slots = connection.scalar(text("SELECT count(*) FROM slots"))
    print(f"{label}: {counts.get('patients', 0)} patients, {slots} slots (old protocol)")
    current_s, count_s = checks(engine)
    print(f"  check, all stale:  current? {current_s * 1000:.1f} ms, count {count_s * 1000:.1f} ms")
    total, longest, done = timed_rebuild(engine)
    per_patient = total / max(done.done, 1)
    print(
        f"  rebuild to the new protocol: {done.done} patients in {total:.1f} s "
        f"({per_patient * 1000:.1f} ms a patient), longest chunk of {REBUILD_CHUNK}: "
        f"{longest:.2f} s"
    )
    current_s, count_s = checks(engine)
    print(f"  check, none stale: current? {current_s * 1000:.1f} ms, count {count_s * 1000:.1f} ms")


def kept_engine(args: argparse.Namespace) -> Engine:
    """The kept clinic's engine: `--sqlite-file`, or `--pg-database` beside `--pg-url`
    (created when missing); migrated, and loaded with `load_clinic` when it holds no patient."""
    if args.database == "sqlite":
        Path(args.sqlite_file).parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(f"sqlite:///{Path(args.sqlite_file).resolve()}")
    else:
        admin = make_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            found = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": args.pg_database}
            )
            if not found:
                connection.execute(text(f"CREATE DATABASE {args.pg_database}"))
        admin.dispose()
        url = make_url(args.pg_url).set(database=args.pg_database)
        engine = make_engine(url.render_as_string(hide_password=False))
    upgrade(engine)
    with engine.connect() as connection:
        patients = connection.scalar(text("SELECT count(*) FROM patients"))
    if patients:
        print(f"reusing the kept clinic: {patients:,} patients", flush=True)
        return engine
    load = argparse.Namespace(
        patients=args.patients,
        chunk=args.load_chunk,
        seed=args.seed,
        today=args.today,
        mix=args.mix,
        progress=True,
    )
    started, cpu = time.perf_counter(), time.process_time()
    counts = load_clinic(engine, load)
    if engine.dialect.name == "postgresql":
        advance_sequences(engine)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))  # fresh statistics before the first rebuild
    print(
        f"loaded {counts} in {time.perf_counter() - started:.0f} s "
        f"(CPU {time.process_time() - cpu:.0f} s); {uptime()}",
        flush=True,
    )
    return engine


def advance_sequences(engine: Engine) -> None:
    """The loader gives ids explicitly: move each id sequence past them, so a later insert
    (another bench's new patient) does not collide."""
    with engine.begin() as connection:
        for name in ("patients", "treatments", "courses", "infusions", "results", "waivers"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
                )
            )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", help="any database on the PostgreSQL server to use")
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 27))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--mix", choices=("alemtuzumab", "mixed"), default="alemtuzumab", help="bench_schedule's"
    )
    parser.add_argument("--sqlite-file", help="keep the SQLite clinic in this file (reused)")
    parser.add_argument("--pg-database", help="keep the PostgreSQL clinic in this database")
    parser.add_argument("--load-chunk", type=int, default=500, help="patients per load batch")
    parser.add_argument("--load-only", action="store_true", help="load the kept clinic, stop")
    args = parser.parse_args()
    if args.database == "postgresql" and not args.pg_url:
        parser.error("--pg-url is required with --database postgresql")
    if args.sqlite_file or args.pg_database:
        engine = kept_engine(args)
        try:
            if not args.load_only:
                run_full(engine, args, "SQLite" if args.database == "sqlite" else "PostgreSQL")
        finally:
            engine.dispose()
        return
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
            run(engine, args, "SQLite")
            engine.dispose()
        return
    admin = make_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
    url = make_url(args.pg_url).set(database=PG_DATABASE).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        run(engine, args, "PostgreSQL")
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        admin.dispose()


def run_full(engine: Engine, args: argparse.Namespace, label: str) -> None:
    """Time `monitor db rebuild`'s work (every patient, the shipped protocols) on the kept clinic;
    it ends as it began: every schedule current."""
    print(f"{label}: full rebuild; {uptime()}", flush=True)
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    chunk_times: list[float] = []
    last = [started]

    def tick(progress: RebuildProgress) -> None:
        now = time.perf_counter()
        chunk_times.append(now - last[0])
        last[0] = now
        if len(chunk_times) % 20 == 0:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"  {progress.done:,} of {progress.total:,} patients, {now - started:.0f} s, "
                f"peak RSS {rss:.0f} MB",
                file=sys.stderr,
                flush=True,
            )

    done = rebuild_schedules(engine, OLD, only_stale=False, on_chunk=tick)
    wall = time.perf_counter() - started
    own, pool = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    own_cpu = own.ru_utime + own.ru_stime - cpu.ru_utime - cpu.ru_stime
    pool_cpu = pool.ru_utime + pool.ru_stime - children.ru_utime - children.ru_stime
    with engine.connect() as connection:
        slots = connection.scalar(text("SELECT count(*) FROM slots"))
    print(
        f"| {label} | {done.done:,} | {slots:,} | {wall:.0f} s | CPU {own_cpu:.0f} s + pool "
        f"{pool_cpu:.0f} s | peak RSS {own.ru_maxrss / 1024:.0f} MB (pool worker "
        f"{pool.ru_maxrss / 1024:.0f} MB) | longest chunk of {REBUILD_CHUNK} "
        f"{max(chunk_times, default=0.0):.1f} s |; {uptime()}",
        flush=True,
    )


if __name__ == "__main__":
    main()
