"""Benchmark: the worklist's Today page for a large clinic, against a running server.

    python bench/bench_web.py --patients 10000 --requests 300 --keep /tmp/bw.db --queries
    python bench/bench_web.py --database postgresql --keep bench_web_10k
    python bench/bench_web.py --clinic sqlite:////path/clinic-100k.db --workers 2

Builds a synthetic clinic with bench_schedule.py's generator (Core inserts, then every slot
with the product's `plan_slots` + `slot_rows`), adds a nurse and some open urgent flags (or,
with `--clinic`, reads a clinic another script built, adding only the nurse), starts
`monitor serve` in its own process on 127.0.0.1 and a free port, signs in over HTTP, and times
GET / sequentially. Reported apart: the server's start to its first answer (it computes the
lists before it opens the port), the first page, the steady state with the server's CPU per
page, and the page after a result is recorded for one patient (which patches that patient's
lines). `--queries` also times the page's queries alone in this process, with their plans;
`--server-source` runs the server from another checkout (a before/after on one database).
Target: p95 under 300 ms for 10,000 patients, first page under 1 s. A script, not a test:
nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout
sys.path.insert(0, str(ROOT / "bench"))

from bench_schedule import chunk_slot_rows, chunks, load_clinic, read_inputs  # noqa: E402

from monitor import clock  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.domain.rules import Severity  # noqa: E402
from monitor.domain.schedule import add_months  # noqa: E402
from monitor.services.people.users import add_user  # noqa: E402
from monitor.services.schedule.slots import PLAN_AHEAD_MONTHS  # noqa: E402
from monitor.store import models  # noqa: E402
from monitor.store.db import make_engine, unit_of_work  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402

PASSWORD = "benchmark password"
SECRET = "bench-" + "s" * 40
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CHANGES = 20  # audited changes, each followed by one Today page
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "monitor_bench_web"


def build_clinic(engine: Engine, args: argparse.Namespace) -> dict[str, int]:
    """Patients, courses, results (bench_schedule's generator), slots, a nurse, 40 flags."""
    upgrade(engine)
    # The generator stamps each treatment with its protocol's fingerprint (the shipped
    # protocols, which config.toml keeps), so the pages take the slots as current.
    counts = load_clinic(engine, args)
    catalogue = load_config(ROOT / "config.toml").catalogue
    horizon_on = add_months(args.today, PLAN_AHEAD_MONTHS)
    insert = models.Slot.__table__.insert()
    slots = 0
    for numbers in chunks(args.patients, args.chunk):
        rows = chunk_slot_rows(read_inputs(engine, numbers), catalogue, horizon_on)
        with engine.begin() as connection:
            connection.execute(insert, rows)
        slots += len(rows)
    counts["slots"] = slots
    if engine.dialect.name == "postgresql":
        # Planner statistics and the visibility map (index-only scans): a bulk load outruns
        # autovacuum (and the test server runs without it).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        add_user(session, name="nina", role="nurse", password=PASSWORD, actor="bench", now=now)
        result_ids = session.scalars(
            select(models.Result.id, models.Result.patient_id)
            .where(models.Result.analyte == "platelets")
            .limit(40)
        ).all()
        for result_id in result_ids:
            row = session.get_one(models.Result, result_id)
            session.add(
                models.Flag(
                    patient_id=row.patient_id,
                    result_id=row.id,
                    rule="platelets.low",
                    severity=Severity.URGENT,
                    message="synthetic",
                    created_at=now,
                )
            )
    return counts


def existing_clinic(engine: Engine) -> dict[str, int]:
    """A clinic another script built (`--clinic`): only the nurse is added (once); its counts."""
    from sqlalchemy import func

    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        if session.scalar(select(models.User.id).where(models.User.name == "nina")) is None:
            add_user(session, name="nina", role="nurse", password=PASSWORD, actor="bench", now=now)
        tables = {"patients": models.Patient, "results": models.Result, "slots": models.Slot}
        return {
            name: session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in tables.items()
        }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def server(url: str, workers: int = 1, source: Path = ROOT) -> Iterator[Server]:
    """`monitor serve` in a child process (with `--workers`), from the checkout `source`,
    ready: it answers /login."""
    port = free_port()
    env = {**os.environ, "MONITOR_WEB_SECRET": SECRET, "MONITOR_CONFIG": str(ROOT / "config.toml")}
    env["PYTHONPATH"] = str(source)
    command = [sys.executable, "-m", "monitor", "--database", url, "serve", "--port", str(port)]
    if workers != 1:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=source, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(base + "/login", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        yield Server(base, child.pid, time.perf_counter() - started, cpu_seconds(child.pid))
    finally:
        child.terminate()
        child.wait(timeout=60)


@dataclass(frozen=True)
class Server:
    base: str
    pid: int
    ready_after: float  # seconds from the command's start to its first answer (warming included)
    ready_cpu: float  # CPU seconds of the server's processes by then


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children still running (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        pids.extend(int(child) for child in children)
    return total


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    response = client.post(
        "/login", data={"name": "nina", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert response.status_code == 303, response.status_code
    return client


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def changed_then_get(client: httpx.Client, number: int, today: str) -> float:
    """A result recorded for one patient (a slot change, which the lists patch), then the
    Today page."""
    token = CSRF.search(client.get("/").text)
    assert token is not None
    form = {"analyte": "creatinine", "value": "70", "unit": "umol/L", "collected_on": today}
    response = client.post(f"/patients/B{number:07d}/results", data={**form, "csrf": token[1]})
    assert response.status_code == 303, response.status_code
    return timed_get(client, "/")


def measure(served: Server, args: argparse.Namespace) -> dict[str, Any]:
    client = signed_in(served.base)
    cpu_before = cpu_seconds(served.pid)
    cold = timed_get(client, "/")
    cold_cpu = cpu_seconds(served.pid) - cpu_before
    cpu_before = cpu_seconds(served.pid)
    times = [timed_get(client, "/") for _ in range(args.requests)]
    steady_cpu = (cpu_seconds(served.pid) - cpu_before) / args.requests
    filtered = [timed_get(client, "/?site=north&panel=cbc") for _ in range(args.requests // 5)]
    paged = [timed_get(client, "/?page=3&week=2") for _ in range(args.requests // 5)]
    changes = 0 if args.clinic else CHANGES  # a shared clinic is only read
    today = args.today.isoformat()
    after_change = [changed_then_get(client, n, today) for n in range(1, changes + 1)]
    size = len(client.get("/").content)
    return {
        "ready_after": served.ready_after,
        "ready_cpu": served.ready_cpu,
        "cold": cold,
        "cold_cpu": cold_cpu,
        "steady_cpu": steady_cpu,
        "after_change": after_change,
        "times": times,
        "filtered": filtered,
        "paged": paged,
        "bytes": size,
        "load": os.getloadavg(),
    }


def report(
    args: argparse.Namespace, backend: str, counts: dict[str, int], m: dict[str, Any]
) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:,.0f} ms"

    def row(name: str, values: list[float], target: str = "") -> str:
        return (
            f"| {name}, {len(values)} requests | {ms(statistics.median(values))} | "
            f"{ms(percentile(values, 0.95))} | {ms(percentile(values, 0.99))} | "
            f"{ms(max(values))} | {target} |"
        )

    return "\n".join(
        [
            f"### {backend}, {counts['patients']:,} patients, {args.workers} worker(s)",
            "",
            f"Data: {', '.join(f'{v:,} {k}' for k, v in counts.items())}. "
            f"Load average after the first request: {' / '.join(f'{x:.1f}' for x in m['load'])}"
            f", at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on "
            f"{os.cpu_count()} CPUs. Page size {m['bytes'] / 1024:.0f} KiB.",
            "",
            f"Server start to its first answer (imports, the lists warmed): "
            f"{m['ready_after']:.2f} s wall, {m['ready_cpu']:.2f} s CPU. "
            f"First GET / after that: {ms(m['cold'])} wall, {ms(m['cold_cpu'])} server CPU. "
            f"Steady state: {ms(m['steady_cpu'])} server CPU per request.",
            "",
            "| measure | p50 | p95 | p99 | max | target |",
            "|---|---:|---:|---:|---:|---|",
            row("GET / steady state", m["times"], "p95 < 300 ms"),
            row("GET /?site=north&panel=cbc", m["filtered"]),
            row("GET /?page=3&week=2", m["paged"]),
            f"| first GET / after start | {ms(m['cold'])} | | | | < 1 s |",
            row("GET / after a recorded result (patches one patient)", m["after_change"])
            if m["after_change"]
            else "| GET / after a change | not measured: a shared clinic is only read | | | | |",
        ]
    )


@contextmanager
def database(args: argparse.Namespace) -> Iterator[tuple[str, bool]]:
    """(URL, already built?): a SQLite file (kept with --keep PATH) or a PostgreSQL database."""
    if args.clinic:
        yield args.clinic, True
        return
    if args.database == "postgresql":
        import psycopg

        name = args.keep or PG_DATABASE
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        if args.keep and _finished(url):
            yield url, True
            return
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
        yield url, False
        if not args.keep:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return
    if args.keep:
        path = Path(args.keep).resolve()
        url = f"sqlite:///{path}"
        if path.exists() and not _finished(url):
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)  # an interrupted build: start again
        yield url, path.exists()
        return
    with tempfile.TemporaryDirectory(prefix="monitor-bench-web-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}", False


def _finished(url: str) -> bool:
    """A kept file is reused only if its build got as far as adding the nurse (the last step)."""
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


def time_queries(url: str, args: argparse.Namespace, repeat: int = 3) -> str:
    """The Today page's queries alone, in this process (median of `repeat`, wall and CPU), and
    the plans of the two whole-clinic lists (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE)."""
    from sqlalchemy import event

    from monitor.services.mail.unreachable import unreachable
    from monitor.services.people.contacts import booked_ahead
    from monitor.services.people.record import sites
    from monitor.services.results.alerts import open_alerts
    from monitor.services.schedule.fingerprints import require_current_schedules
    from monitor.services.schedule.worklist import overdue_lines, week_lines
    from monitor.web.cache import data_stamp, unsettled_below
    from monitor.web.worklist import take_snapshot

    catalogue = load_config(ROOT / "config.toml").catalogue
    on = args.today
    pieces = {
        "schedules current (each page)": lambda s: require_current_schedules(s, catalogue),
        "stamp (each page)": data_stamp,
        "open alerts (each page)": lambda s: open_alerts(s, None),
        "booked ahead (each page)": lambda s: booked_ahead(s, on),
        "unreachable (each page)": lambda s: unreachable(s, on, None),
        "overdue lines (cold)": lambda s: overdue_lines(s, on, catalogue),
        "week lines (cold)": lambda s: week_lines(s, on, catalogue),
        "sites (cold)": sites,
        "unsettled ids (cold)": lambda s: unsettled_below(s, data_stamp(s)),
        "whole snapshot (cold)": lambda s: take_snapshot(s, on, catalogue, data_stamp(s)),
    }
    engine = make_engine(url)
    lines = ["| query | wall (median) | CPU here (median) | rows |", "|---|---:|---:|---:|"]
    for name, piece in pieces.items():
        walls, cpus, size = [], [], 0
        for _ in range(repeat):
            with unit_of_work(engine) as session:
                wall, cpu = time.perf_counter(), _cpu_self()
                found = piece(session)
                walls.append(time.perf_counter() - wall)
                cpus.append(_cpu_self() - cpu)
                size = len(found) if hasattr(found, "__len__") else 0
        lines.append(
            f"| {name} | {statistics.median(walls) * 1000:,.1f} ms | "
            f"{statistics.median(cpus) * 1000:,.1f} ms | {size:,} |"
        )
    captured: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "slots" in statement and "ORDER BY" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    with unit_of_work(engine) as session:
        overdue_lines(session, on, catalogue)
        week_lines(session, on, catalogue)
    event.remove(engine, "before_cursor_execute", keep)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        for statement, parameters in captured:
            cursor = raw.cursor()
            cursor.execute(explain + statement, parameters)
            lines += ["", "```", *(" ".join(map(str, r)) for r in cursor.fetchall()), "```"]
    engine.dispose()
    return "\n".join(lines)


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--keep",
        help="SQLite file (or, with --database postgresql, database name) to build once and reuse",
    )
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--mix", choices=("alemtuzumab", "mixed"), default="alemtuzumab", help="bench_schedule's"
    )
    parser.add_argument(
        "--clinic",
        help="URL of a clinic built by another script: read only (the nurse is added once)",
    )
    parser.add_argument(
        "--server-source", help="run `monitor serve` from this checkout (a before/after)"
    )
    parser.add_argument("--workers", type=int, default=1, help="`monitor serve --workers`")
    parser.add_argument(
        "--queries", action="store_true", help="also time the lists' queries alone, with plans"
    )
    args = parser.parse_args(argv)
    args.today = clock.today_in(load_config(ROOT / "config.toml").clinic.timezone)
    with database(args) as (url, built):
        engine = make_engine(url)
        started = time.perf_counter()
        if args.clinic:
            counts = existing_clinic(engine)
        else:
            counts = {"patients": args.patients} if built else build_clinic(engine, args)
        print(f"setup {time.perf_counter() - started:.0f} s", file=sys.stderr)
        engine.dispose()
        if args.queries:
            print(time_queries(url, args), file=sys.stderr)
        with server(url, args.workers, Path(args.server_source or ROOT)) as served:
            figures = measure(served, args)
    print(report(args, engine.dialect.name, counts, figures))


if __name__ == "__main__":
    main()
