"""Start-up and the common commands as whole processes, beside the import floor (issue 15).

Each command is run as a nurse or a script runs it: a new `monitor` process each time, median
of `--repeat` after one untimed run, wall time and CPU time (the child's user + system time,
from `resource.getrusage(RUSAGE_CHILDREN)`). The floor is `python -c "import sqlalchemy.orm,
sqlite3"`, timed the same way in the same run; the issue's targets are ratios to it:

- `monitor --help`: at most 1.3x the floor in CPU time;
- `monitor overdue --json`: at most 1.5x (the floor plus the query alone), where "the query
  alone" is the service the command calls (`services.schedule.chasing.chase_list`) timed in
  this process, warm, median of `--repeat`.

The clinic is bench_web's (bench_schedule's generator, slots, a nurse, 40 flags), on SQLite (a
temporary file, or `--keep PATH` to build once and reuse) or PostgreSQL (`--pg-database`, kept
with `--keep-pg` and reused when finished). A script, not a test: it fails on nothing but a
command that exits non-zero.

    python bench/bench_cli.py --patients 4000 --database sqlite --keep /tmp/cli4k.db
    python bench/bench_cli.py --patients 10000 --database postgresql --keep-pg
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_schedule import BENCH_CONFIG, PG_ADMIN_URL
from bench_web import _finished, build_clinic

from monitor.config import load_config
from monitor.services.schedule.chasing import chase_list
from monitor.store.db import make_engine, unit_of_work

DEFAULT_MONITOR = str(Path(sys.executable).with_name("monitor"))
FLOOR = [sys.executable, "-c", "import sqlalchemy.orm, sqlite3"]


@dataclass(frozen=True)
class Timing:
    wall: float  # median seconds
    cpu: float  # median seconds of user + system time


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) of one whole process; exits the benchmark if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])}... exited {done.returncode}: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def timed(make_command: Callable[[int], list[str]], repeat: int) -> Timing:
    """Median wall and CPU of `repeat` runs, after one untimed run (`make_command(i)` lets a
    command that adds something use a new MRN each time)."""
    run_once(make_command(-1))
    runs = [run_once(make_command(i)) for i in range(repeat)]
    return Timing(statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))


def query_alone(url: str, today: date, repeat: int) -> Timing:
    """The overdue query in this process, warm: the part of `overdue` no start-up can remove."""
    config = load_config(config_path())
    engine = make_engine(url)
    try:
        runs = []
        for _ in range(repeat + 1):
            with unit_of_work(engine) as session:
                wall, cpu = time.perf_counter(), time.process_time()
                chase_list(session, today, config.catalogue, None, frozenset())
                runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        return Timing(
            statistics.median(w for w, _ in runs[1:]), statistics.median(c for _, c in runs[1:])
        )
    finally:
        engine.dispose()


def config_path() -> Path:
    path = Path(tempfile.gettempdir()) / f"monitor-bench-cli-{os.getpid()}.toml"
    path.write_text(BENCH_CONFIG)
    return path


@contextmanager
def clinic(args: argparse.Namespace) -> Iterator[str]:
    """The URL of a built clinic (built here unless a kept one is finished)."""
    if args.database == "postgresql":
        import psycopg

        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + args.pg_database
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (args.pg_database,)
            ).fetchone()
            if exists and not (args.keep_pg and _finished(url)):
                admin.execute(f"DROP DATABASE {args.pg_database} WITH (FORCE)")
                exists = None
            if not exists:
                admin.execute(f"CREATE DATABASE {args.pg_database}")
                _build(url, args)
        yield url
        if not args.keep_pg:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {args.pg_database} WITH (FORCE)")
        return
    if args.keep:
        path = Path(args.keep).resolve()
        url = f"sqlite:///{path}"
        if not (path.exists() and _finished(url)):
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            _build(url, args)
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="monitor-bench-cli-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        _build(url, args)
        yield url


def _build(url: str, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        counts = build_clinic(engine, args)
    finally:
        engine.dispose()
    print(f"built {counts} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def measure(url: str, args: argparse.Namespace) -> list[tuple[str, Timing, str]]:
    config = str(config_path())
    monitor = args.monitor
    base = [monitor, "--config", config, "--database", url]
    day = args.today.isoformat()
    rows: list[tuple[str, Timing, str]] = []

    def add(label: str, make: Callable[[int], list[str]], target: str = "") -> Timing:
        timing = timed(make, args.repeat)
        rows.append((label, timing, target))
        return timing

    floor = add("floor: `python -c 'import sqlalchemy.orm, sqlite3'`", lambda _: FLOOR)
    add("`monitor --help`", lambda _: [monitor, "--help"], "<= 1.3x floor (CPU)")
    add("`monitor overdue --json`", lambda _: [*base, "overdue", "--json", "--as-of", day])
    add("`monitor schedule MRN --json`", lambda _: [*base, "schedule", "B0000001", "--json"])
    stamp = int(time.time())
    add(
        "`monitor patient add` (a new MRN each run)",
        lambda i: [*base, "patient", "add", f"CLI{stamp}{i + 1:03d}", "--name", "Bench Person"],
    )
    add(
        "`monitor course add` (to that patient)",
        lambda i: [*base, "course", "add", f"CLI{stamp}{i + 1:03d}", "--start", day, "--days", "5"],
    )
    add("`monitor import --help`", lambda _: [*base, "import", "--help"])
    query = query_alone(url, args.today, args.repeat)
    rows.append(("`chase_list` alone (the query), in-process, warm", query, ""))
    rows.append(
        (
            "target for `overdue --json`: 1.5x (floor + query)",
            Timing(1.5 * (floor.wall + query.wall), 1.5 * (floor.cpu + query.cpu)),
            "",
        )
    )
    return rows


def report(rows: list[tuple[str, Timing, str]], args: argparse.Namespace) -> str:
    floor = rows[0][1]
    lines = [
        f"{args.database}, {args.patients:,} patients, median of {args.repeat}, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "",
        "| command | wall | CPU | CPU / floor CPU | target |",
        "|---|---:|---:|---:|---|",
    ]
    for label, timing, target in rows:
        lines.append(
            f"| {label} | {timing.wall:.3f} s | {timing.cpu:.3f} s | "
            f"{timing.cpu / floor.cpu:.2f} | {target} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=4_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--keep", help="SQLite file to build once and reuse on later runs")
    parser.add_argument("--keep-pg", action="store_true", help="keep and reuse --pg-database")
    parser.add_argument("--pg-database", default="monitor_bench_cli")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--monitor",
        default=DEFAULT_MONITOR,
        help="the `monitor` executable to time (another checkout's, for a before/after)",
    )
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 27))
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--mix", choices=("alemtuzumab", "mixed"), default="alemtuzumab")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with clinic(args) as url:
        print(report(measure(url, args), args))


if __name__ == "__main__":
    main()
