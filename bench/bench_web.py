"""Benchmark: the worklist's Today page for a large clinic, against a running server.

    python bench/bench_web.py --patients 10000 --requests 300
    python bench/bench_web.py --database postgresql

Builds a synthetic clinic with bench_schedule.py's generator (Core inserts, then every slot
with the product's `plan_slots` + `slot_rows`), adds a nurse and some open urgent flags, starts
`monitor serve` in its own process on 127.0.0.1 and a free port, signs in over HTTP, and times
GET / sequentially. The first request (which computes the overdue list) is reported apart from
the steady state, and so is the first request after a change (which patches the lists for the
changed patient). Target:
p95 under 300 ms for 10,000 patients. A script, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def server(url: str) -> Iterator[str]:
    """`monitor serve` in a child process; yields its base URL."""
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
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=30)


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


def changed_then_get(client: httpx.Client, number: int) -> float:
    """An audited change to one patient, then the Today page (which patches that patient)."""
    token = CSRF.search(client.get("/").text)
    assert token is not None
    client.post(f"/patients/B{number:07d}/email", data={"csrf": token.group(1), "opted_out": "yes"})
    return timed_get(client, "/")


def measure(base: str, args: argparse.Namespace) -> dict[str, Any]:
    client = signed_in(base)
    cold = timed_get(client, "/")
    times = [timed_get(client, "/") for _ in range(args.requests)]
    filtered = [timed_get(client, "/?site=north&panel=cbc") for _ in range(args.requests // 5)]
    after_change = [changed_then_get(client, number) for number in range(1, CHANGES + 1)]
    size = len(client.get("/").content)
    return {
        "cold": cold,
        "after_change": after_change,
        "times": times,
        "filtered": filtered,
        "bytes": size,
    }


def report(
    args: argparse.Namespace, backend: str, counts: dict[str, int], m: dict[str, Any]
) -> str:
    times, filtered, changed = m["times"], m["filtered"], m["after_change"]

    def ms(value: float) -> str:
        return f"{value * 1000:.0f} ms"

    return "\n".join(
        [
            f"### {backend}, {args.patients:,} patients",
            "",
            f"Data: {', '.join(f'{v:,} {k}' for k, v in counts.items())}. "
            f"Load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on "
            f"{os.cpu_count()} CPUs. Page size {m['bytes'] / 1024:.0f} KiB.",
            "",
            "| measure | p50 | p95 | p99 | max | target |",
            "|---|---:|---:|---:|---:|---|",
            f"| GET / steady state, {len(times)} sequential requests | "
            f"{ms(statistics.median(times))} | {ms(percentile(times, 0.95))} | "
            f"{ms(percentile(times, 0.99))} | {ms(max(times))} | p95 < 300 ms |",
            f"| GET /?site=north&panel=cbc, {len(filtered)} requests | "
            f"{ms(statistics.median(filtered))} | {ms(percentile(filtered, 0.95))} | "
            f"{ms(percentile(filtered, 0.99))} | {ms(max(filtered))} | |",
            f"| first GET / after start (computes the lists) | {ms(m['cold'])} | | | | |",
            f"| GET / after an audited change (patches one patient), {CHANGES} changes | "
            f"{ms(statistics.median(changed))} | {ms(percentile(changed, 0.95))} | "
            f"{ms(percentile(changed, 0.99))} | {ms(max(changed))} | |",
        ]
    )


@contextmanager
def database(args: argparse.Namespace) -> Iterator[tuple[str, bool]]:
    """(URL, already built?): a SQLite file (kept with --keep PATH) or a PostgreSQL database."""
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
    args = parser.parse_args(argv)
    args.today = clock.today_in(load_config(ROOT / "config.toml").clinic.timezone)
    with database(args) as (url, built):
        engine = make_engine(url)
        started = time.perf_counter()
        counts = {"patients": args.patients} if built else build_clinic(engine, args)
        print(f"setup {time.perf_counter() - started:.0f} s", file=sys.stderr)
        engine.dispose()
        with server(url) as base:
            figures = measure(base, args)
    print(report(args, args.database, counts, figures))


if __name__ == "__main__":
    main()
