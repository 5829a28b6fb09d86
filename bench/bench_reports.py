"""Benchmark: the adherence report and the REMS list for a large clinic (issue 16).

    python bench/bench_reports.py --database sqlite --keep /tmp/bench-reports-10k.db
    python bench/bench_reports.py --database postgresql

Builds a synthetic clinic once with bench_web.py's `build_clinic` (bench_schedule.py's generator,
`--mix mixed` by default so the report has several protocols and panels), keeps it (a SQLite file
with `--keep PATH`; the PostgreSQL database `--pg-database`, reused while it holds the finished
clinic, `--rebuild` to start again), then times:

- the service in one process (`services.reports.adherence.adherence_report`, by month and by
  patient, and `rems_list`), median of `--repeat` runs, first run apart;
- `monitor report adherence --json` as a new process (start-up, configuration, the freshness
  check, the query, the JSON);
- `GET /reports` against a running `monitor serve`, signed in over HTTP (the page: the table,
  both charts).

Each is given in wall-clock time and in CPU time: of this process for the service (SQLite's work
included; PostgreSQL's server is not counted), of the child processes for the command, and of the
`monitor serve` process (from /proc) for the page. On a shared machine the wall clock measures
the queue for the CPUs as much as the work; the CPU time is the work.

Target: the Reports page under 1 s at 10,000 patients. A script, not a test: nothing fails on a
slow machine; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout
sys.path.insert(0, str(ROOT / "bench"))

from bench_web import (  # noqa: E402
    PG_ADMIN_URL,
    SECRET,
    build_clinic,
    free_port,
    signed_in,
    timed_get,
)

from monitor.config import load_config  # noqa: E402
from monitor.store import models  # noqa: E402
from monitor.store.db import make_engine, unit_of_work  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402

TODAY = date(2026, 11, 27)  # bench_schedule's default "today": the clinic is built around it


def clinic_url(args: argparse.Namespace) -> tuple[str, bool]:
    """(URL, already built?) of the kept clinic."""
    if args.database == "postgresql":
        import psycopg

        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + args.pg_database
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (args.pg_database,)
            ).fetchone()
            if exists and (args.rebuild or not finished(url)):
                admin.execute(f"DROP DATABASE {args.pg_database} WITH (FORCE)")
                exists = None
            if not exists:
                admin.execute(f"CREATE DATABASE {args.pg_database}")
        return url, bool(exists)
    path = Path(args.keep).resolve()
    url = f"sqlite:///{path}"
    if path.exists() and (args.rebuild or not finished(url)):
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)  # an interrupted build: start again
    return url, path.exists()


def finished(url: str) -> bool:
    """A kept clinic is reused only if its build got as far as adding the nurse (the last step)."""
    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            return (
                session.scalar(select(models.User.id).where(models.User.name == "nina")) is not None
            )
    except Exception:
        return False
    finally:
        engine.dispose()


def settle(url: str) -> None:
    """A kept clinic at the latest schema (a clinic built before migration 0015 gets the report
    index), with fresh planner statistics (a bulk load outruns autovacuum's ANALYZE)."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            return {
                name: session.scalar(select(func.count()).select_from(table)) or 0
                for name, table in (
                    ("patients", models.Patient),
                    ("results", models.Result),
                    ("slots", models.Slot),
                )
            }
    finally:
        engine.dispose()


Clock = Callable[[], float]


def timed(action: Callable[[], Any], repeat: int, cpu: Clock) -> Figure:
    """The first run apart, then `repeat` runs: wall-clock seconds and `cpu` seconds of each."""
    started = time.perf_counter()
    answer = action()
    first = time.perf_counter() - started
    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), cpu()
        answer = action()
        walls.append(time.perf_counter() - started)
        cpus.append(cpu() - cpu_started)
    return Figure("", first, walls, cpus, answer)


@dataclass
class Figure:
    label: str
    first: float
    walls: list[float]
    cpus: list[float]
    answer: Any = None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> Clock:
    """CPU seconds (user + system) used so far by process `pid`, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    return read


def measure_service(url: str, args: argparse.Namespace) -> list[Figure]:
    from monitor.services.reports.adherence import ReportBy, adherence_report
    from monitor.services.reports.period import ReportFilter
    from monitor.services.reports.rems import rems_list

    catalogue = load_config(ROOT / "config.toml").catalogue
    engine = make_engine(url)
    wanted = ReportFilter(first_on=args.first, last_on=args.last)
    figures = []
    try:
        for label, call in (
            ("adherence_report by month", lambda s: adherence_report(s, catalogue, wanted, TODAY)),
            (
                "adherence_report by patient",
                lambda s: adherence_report(s, catalogue, wanted, TODAY, ReportBy.PATIENT),
            ),
            ("rems_list", lambda s: rems_list(s, catalogue, wanted, TODAY)),
        ):

            def once(call: Callable[[Any], Any] = call) -> Any:
                with unit_of_work(engine, catalogue) as session:
                    return call(session)

            figure = timed(once, args.repeat, time.process_time)
            figure.label = f"{label} ({len(figure.answer.rows):,} rows)"
            figures.append(figure)
    finally:
        engine.dispose()
    return figures


def measure_command(url: str, args: argparse.Namespace) -> Figure:
    command = [
        sys.executable, "-m", "monitor", "--database", url, "report", "adherence",
        "--from", args.first.isoformat(), "--to", args.last.isoformat(), "--json",
    ]  # fmt: skip
    env = {**os.environ, "MONITOR_CONFIG": str(ROOT / "config.toml")}

    def once() -> None:
        subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)

    figure = timed(once, args.repeat, children_cpu)
    figure.label = "`monitor report adherence --json` (a new process)"
    return figure


@contextmanager
def server(url: str) -> Iterator[tuple[str, int]]:
    """`monitor serve` in a child process: (its base URL, its pid)."""
    port = free_port()
    env = {**os.environ, "MONITOR_WEB_SECRET": SECRET, "MONITOR_CONFIG": str(ROOT / "config.toml")}
    child = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--database", url, "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", child.pid
    finally:
        child.terminate()
        child.wait(timeout=30)


def measure_page(url: str, args: argparse.Namespace) -> list[Figure]:
    query = f"/reports?from={args.first.isoformat()}&to={args.last.isoformat()}"
    figures = []
    with server(url) as (base, pid):
        client = signed_in(base)
        for label, path in (
            ("GET /reports (12 months, every site)", query),
            ("GET /reports?site=north", query + "&site=north"),
            ("GET /reports/rems.csv", query.replace("/reports?", "/reports/rems.csv?")),
        ):
            figure = timed(lambda path=path: timed_get(client, path), args.repeat, process_cpu(pid))
            figure.label = label
            figures.append(figure)
        size = len(client.get(query).content)
    figures[0].label += f", {size / 1024:.0f} KiB"
    return figures


def report(args: argparse.Namespace, data: dict[str, int], figures: list[Figure]) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:,.0f} ms"

    lines = [
        f"### {args.database}, {data['patients']:,} patients, {args.first} to {args.last}",
        "",
        f"Data: {', '.join(f'{v:,} {k}' for k, v in data.items())}. Load average at the end: "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs.",
        "",
        f"| measure | first (wall) | median of {args.repeat} (wall) | max (wall) | "
        "median CPU | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for f in figures:
        target = "< 1 s" if f.label.startswith("GET /reports (") else ""
        median, worst, cpu = (
            ms(statistics.median(f.walls)),
            ms(max(f.walls)),
            ms(statistics.median(f.cpus)),
        )
        lines.append(f"| {f.label} | {ms(f.first)} | {median} | {worst} | {cpu} | {target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--keep", default="/tmp/bench-reports-10k.db", help="the SQLite file")
    parser.add_argument("--pg-database", default="monitor_bench_reports")
    parser.add_argument("--rebuild", action="store_true", help="build the clinic again")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--service-only", action="store_true", help="skip the command and page")
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--mix", choices=("alemtuzumab", "mixed"), default="mixed")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, default=date(2025, 12, 1))
    parser.add_argument("--to", dest="last", type=date.fromisoformat, default=date(2026, 11, 30))
    args = parser.parse_args(argv)
    args.today = TODAY
    url, built = clinic_url(args)
    if not built:
        engine = make_engine(url)
        started = time.perf_counter()
        build_clinic(engine, args)
        engine.dispose()
        print(f"setup {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    settle(url)
    if args.build_only:
        return
    figures = measure_service(url, args)
    if not args.service_only:
        figures += [measure_command(url, args), *measure_page(url, args)]
    print(report(args, counts(url), figures))


if __name__ == "__main__":
    main()
