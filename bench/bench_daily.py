"""Benchmark: `monitor daily` as a whole process on a large clinic (issue 15 items 4 and 6).

    python bench/bench_daily.py --patients 10000 --database both --keep
    python bench/bench_daily.py --patients 10000 --database sqlite --keep --profile daily.prof

Builds `bench_schedule.py`'s synthetic clinic (alemtuzumab patients, their results, slots from a
full rebuild), then runs its first daily cycle on the day before D (the catch-up of a clinic's
first day: every reminder already due; timed once, as a process) and marks that cycle's mail
sent, as `monitor send` would have. That is the pristine clinic, kept in `--workdir` (SQLite: a
file and the copy each repeat writes to) and in a PostgreSQL database used as a template;
`--keep` reuses both on the next run. `--sqlite-base FILE` / `--pg-base NAME` take a clinic
built elsewhere as the pristine one instead (never written to: each repeat runs on a copy),
except that `--catch-up` first runs its first cycle (D-1) on it and marks that mail sent, when
its outbox is empty (a clinic loaded and rebuilt by `bench_rebuild.py`, which has no cycle yet),
and `--in-place` runs one repeat on the SQLite base itself (a disk too small for a copy).

Each repeat restores the clinic, then times three cycles, each `python -m monitor daily --as-of
DAY --json` as a new process (start-up, configuration, the schema and freshness checks, the
cycle, its commit): the first run of day D (yesterday's cycle ran), a second run of D (nothing
new: it queues nothing), and the run of D+1 (the next day). Wall time and CPU time (the child's
user + system, `getrusage(RUSAGE_CHILDREN)`; PostgreSQL's own server CPU is not in it), median
of `--repeat`. Prints a Markdown table per database, with `uptime`'s load.

`--profile PATH` also runs the first cycle of D in this process under cProfile (on a restored
clinic), writes the stats to PATH (one file per database: `PATH.sqlite`, `PATH.postgresql`) and
prints the top entries. A script, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import JSON, Engine, Integer, func, select, text, update

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from bench_schedule import BENCH_CONFIG, load_clinic  # noqa: E402

from monitor.config import load_config  # noqa: E402
from monitor.domain.vocabulary import OutboxStatus  # noqa: E402
from monitor.services.mail.daily import run_daily  # noqa: E402
from monitor.services.schedule.fingerprints import rebuild_schedules  # noqa: E402
from monitor.store.db import make_engine  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402
from monitor.store.models import Base, OutboxMessage, Patient, Slot  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RUNS = ("first run of D", "second run of D (nothing new)", "run of D+1 (next day)")


@dataclass
class Clinic:
    name: str
    url: str  # the copy the timed cycles write to
    restore: Callable[[], None]  # back to the pristine clinic
    catch_up: str = "-"  # the clinic's first cycle, as timed when it was built


@dataclass
class Run:
    wall: float
    cpu: float
    queued: int
    skipped: int


@dataclass
class Figures:
    clinic: Clinic
    patients: int = 0
    slots: int = 0
    runs: dict[str, list[Run]] = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""


# ---------------------------------------------------------------- the clinic


def config_path(args: argparse.Namespace) -> Path:
    path = Path(args.workdir) / "bench-daily.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCH_CONFIG)
    return path


def build(url: str, args: argparse.Namespace) -> str:
    """Migrate, load the synthetic clinic, rebuild every schedule, run and "send" its first
    cycle; returns how long that first cycle took (wall and CPU, as a process)."""
    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    load = argparse.Namespace(
        patients=args.patients, chunk=250, seed=args.seed, today=args.today, mix="alemtuzumab"
    )
    counts = load_clinic(engine, load)
    config = load_config(config_path(args))
    rebuild_schedules(engine, config.catalogue, only_stale=False)
    print(
        f"  built {counts.get('patients', 0)} patients, {counts.get('results', 0)} results "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    catch_up = cycle(url, args.today - timedelta(days=1), args)
    mark_sent(engine)
    engine.dispose()
    line = f"{catch_up.wall:.1f} s wall, {catch_up.cpu:.1f} s CPU, {catch_up.queued} queued"
    print(f"  first cycle (catch-up, D-1): {line}", flush=True)
    return line


def catch_up_base(url: str, args: argparse.Namespace) -> str:
    """`--catch-up`: the first cycle (D-1) of a clinic built elsewhere, on that clinic itself,
    its mail marked sent; skipped (and said) when its outbox already holds mail."""
    engine = make_engine(url)
    with engine.connect() as connection:
        queued = connection.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    if queued:
        engine.dispose()
        return f"already run ({queued} messages in the outbox)"
    # One transaction queues the whole clinic's first mail (95,000 emails at 100,000 patients);
    # on PostgreSQL the foreign-key check of each notice on `outbox` keeps the plan it was given
    # while `outbox` was empty, a sequential scan, so the catch-up grows with the square of its
    # emails (BENCHMARKS.md, "100,000 patients"). Custom plans for that one process avoid it.
    env = {"PGOPTIONS": "-c plan_cache_mode=force_custom_plan"} if "postgresql" in url else {}
    print(f"  catch-up (D-1) on the base clinic {env}; load {load_average()}", flush=True)
    catch_up = cycle(url, args.today - timedelta(days=1), args, env)
    mark_sent(engine)
    engine.dispose()
    line = f"{catch_up.wall:.1f} s wall, {catch_up.cpu:.1f} s CPU, {catch_up.queued} queued"
    print(f"  first cycle (catch-up, D-1): {line}; load {load_average()}", flush=True)
    return line


def mark_sent(engine: Engine) -> None:
    """What `monitor send` would have done with the catch-up's mail (so the next cycles see a
    healthy outbox, as a clinic's would be)."""
    with engine.begin() as connection:
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENT, sent_at=OutboxMessage.created_at, attempts=1)
        )


def sqlite_clinic(args: argparse.Namespace) -> Clinic:
    folder = Path(args.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    base = Path(args.sqlite_base) if args.sqlite_base else folder / f"daily-{args.patients}.db"
    run = folder / f"daily-{args.patients}-run.db"
    catch_up = "-"
    if not args.sqlite_base and not (args.keep and base.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{base}{suffix}").unlink(missing_ok=True)
        catch_up = build(f"sqlite:///{base}", args)
    elif args.sqlite_base and args.catch_up:
        catch_up = catch_up_base(f"sqlite:///{base}", args)

    if args.in_place:  # no copy: the cycles write to the base itself (one repeat)
        return Clinic("sqlite", f"sqlite:///{base}", os.sync, catch_up)

    def restore() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{run}{suffix}").unlink(missing_ok=True)
        for suffix in ("", "-wal"):
            if Path(f"{base}{suffix}").exists():
                shutil.copyfile(f"{base}{suffix}", f"{run}{suffix}")
        os.sync()  # else the first commit's fsync writes back the whole copy, timed

    return Clinic("sqlite", f"sqlite:///{run}", restore, catch_up)


def postgresql_clinic(args: argparse.Namespace) -> Clinic:
    import psycopg

    admin_url = args.pg_url
    server = admin_url.rsplit("/", 1)[0]
    base = args.pg_base or f"{args.pg_database}_{args.patients}"
    run = f"{args.pg_database}_{args.patients}_run"
    catch_up = "-"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (base,)).fetchone()
        if not args.pg_base and not (args.keep and found):
            admin.execute(f"DROP DATABASE IF EXISTS {run} WITH (FORCE)")
            admin.execute(f"DROP DATABASE IF EXISTS {base} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {base}")
            built = True
        else:
            built = False
    if built and args.pg_from_sqlite:
        copy_clinic(f"sqlite:///{args.pg_from_sqlite}", f"{server}/{base}")
    elif built:
        catch_up = build(f"{server}/{base}", args)
    elif args.pg_base and args.catch_up:
        catch_up = catch_up_base(f"{server}/{base}", args)

    def restore() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {run} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {run} TEMPLATE {base}")
        with psycopg.connect(f"{server}/{run}", autocommit=True) as fresh:
            fresh.execute("ANALYZE")  # a template copy keeps no statistics of its own

    return Clinic("postgresql", f"{server}/{run}", restore, catch_up)


def copy_clinic(source_url: str, target_url: str) -> None:
    """Every row of a built SQLite clinic into a migrated PostgreSQL database with COPY: the
    same data as a build (same generator, same rebuild, same first cycle) at a fraction of its
    time, for a machine too loaded to build twice."""
    started = time.perf_counter()
    source, target = make_engine(source_url), make_engine(target_url)
    upgrade(target)
    tables = [table for table in Base.metadata.sorted_tables if table.name != "alembic_version"]
    raw = target.raw_connection()
    cursor = raw.cursor()
    cursor.execute(f"TRUNCATE {', '.join(table.name for table in tables)} CASCADE")
    with source.connect() as read:
        for table in tables:
            names = [column.name for column in table.columns]
            as_json = [isinstance(column.type, JSON) for column in table.columns]
            rows = read.execution_options(yield_per=20_000).execute(select(table))
            with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        [
                            json.dumps(value) if is_json and value is not None else value
                            for value, is_json in zip(row, as_json, strict=True)
                        ]
                    )
            if "id" in table.columns and isinstance(table.columns["id"].type, Integer):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE(MAX(id), 0) + 1, false) FROM {table.name}"
                )
    raw.commit()
    cursor.execute("ANALYZE")
    raw.commit()
    raw.close()
    source.dispose()
    target.dispose()
    print(f"  copied {source_url} in {time.perf_counter() - started:.0f} s", flush=True)


# ---------------------------------------------------------------- the cycles


def cycle(
    url: str, day: date, args: argparse.Namespace, extra: dict[str, str] | None = None
) -> Run:
    """`monitor daily --as-of DAY --json` as a new process: wall and CPU time, what it queued."""
    command = [
        sys.executable,
        "-m",
        "monitor",
        "--config",
        str(config_path(args)),
        "--database",
        url,
        "daily",
        "--as-of",
        day.isoformat(),
        "--json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": args.source, **(extra or {})}
    done = subprocess.run(command, capture_output=True, text=True, cwd=args.source, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"monitor daily exited {done.returncode}: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    if report["set_aside"]:
        raise SystemExit(f"the cycle of {day} set {report['set_aside']} patient(s) aside")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, report["queued"], report["skipped"])


def measure(clinic: Clinic, args: argparse.Namespace) -> Figures:
    figures = Figures(clinic, runs={name: [] for name in RUNS})
    figures.load_before = load_average()
    days = (args.today, args.today, args.today + timedelta(days=1))
    for repeat in range(args.repeat):
        clinic.restore()
        if repeat == 0:
            figures.patients, figures.slots = sizes(clinic.url)
        for name, day in zip(RUNS, days, strict=True):
            run = cycle(clinic.url, day, args)
            figures.runs[name].append(run)
            print(
                f"  {clinic.name} repeat {repeat + 1} {name}: {run.wall:.2f} s wall, "
                f"{run.cpu:.2f} s CPU, {run.queued} queued, {run.skipped} skipped",
                flush=True,
            )
    figures.load_after = load_average()
    return figures


def sizes(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        patients = connection.scalar(select(func.count()).select_from(Patient)) or 0
        slots = connection.scalar(select(func.count()).select_from(Slot)) or 0
    engine.dispose()
    return patients, slots


def profile(clinic: Clinic, args: argparse.Namespace) -> None:
    """The first cycle of D in this process under cProfile, on a restored clinic."""
    clinic.restore()
    engine = make_engine(clinic.url)
    config = load_config(config_path(args))
    with engine.connect() as connection:  # warm the pool and the dialect, as the CLI would
        connection.execute(text("SELECT 1"))
    profiler = cProfile.Profile()
    now = datetime.now(UTC)
    started = time.perf_counter()
    profiler.enable()
    report = run_daily(engine, on=args.today, config=config, now=now)
    profiler.disable()
    elapsed = time.perf_counter() - started
    engine.dispose()
    path = f"{args.profile}.{clinic.name}"
    profiler.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(20)
    print(
        f"\n### cProfile of the first cycle of {args.today} on {clinic.name} "
        f"({elapsed:.2f} s under the profiler, {report.queued} queued, {report.skipped} skipped;"
        f" stats in {path})\n"
    )
    print(out.getvalue())


# ---------------------------------------------------------------- the report


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def table(figures: Figures) -> str:
    clinic = figures.clinic
    lines = [
        f"### `monitor daily`, {clinic.name}, {figures.patients:,} patients, "
        f"{figures.slots:,} slots",
        "",
        f"Load average before {figures.load_before}, after {figures.load_after}. "
        f"The clinic's first cycle (catch-up, D-1, when built): {clinic.catch_up}.",
        "",
        "| run | wall, median (runs) | CPU, median | queued | skipped |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in figures.runs.items():
        walls = [run.wall for run in runs]
        cpus = [run.cpu for run in runs]
        lines.append(
            f"| {name} | {statistics.median(walls):.2f} s "
            f"({', '.join(f'{w:.2f}' for w in walls)}) | {statistics.median(cpus):.2f} s | "
            f"{runs[0].queued} | {runs[0].skipped} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 27))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/bench-daily", help="the SQLite clinics")
    parser.add_argument("--keep", action="store_true", help="reuse the clinics built before")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="any database on the server")
    parser.add_argument("--pg-database", default="bench_daily", help="prefix of the databases")
    parser.add_argument("--sqlite-base", help="a clinic built elsewhere (only copied)")
    parser.add_argument("--pg-base", help="a PostgreSQL clinic built elsewhere (a template)")
    parser.add_argument(
        "--catch-up",
        action="store_true",
        help="run the first cycle (D-1) on the --sqlite-base / --pg-base clinic when it has none",
    )
    parser.add_argument(
        "--pg-from-sqlite", help="build the PostgreSQL clinic by copying this SQLite clinic"
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="with --sqlite-base: run the cycles on it, not a copy (a disk too small to copy it)",
    )
    parser.add_argument("--profile", help="also write a cProfile of the cycle of D here")
    parser.add_argument("--no-timing", action="store_true", help="only --profile")
    parser.add_argument(
        "--source",
        default=os.environ.get("MONITOR_BENCH_SOURCE", str(ROOT)),
        help="the checkout whose `monitor` the processes run (default: this one)",
    )
    args = parser.parse_args(argv)
    if args.in_place and (not args.sqlite_base or args.repeat != 1 or args.profile):
        parser.error("--in-place needs --sqlite-base and --repeat 1, without --profile")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    names = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    reports = []
    for name in names:
        clinic = sqlite_clinic(args) if name == "sqlite" else postgresql_clinic(args)
        if not args.no_timing:
            figures = measure(clinic, args)
            reports.append(table(figures))
            print("\n" + reports[-1] + "\n", flush=True)
        if args.profile:
            profile(clinic, args)
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
