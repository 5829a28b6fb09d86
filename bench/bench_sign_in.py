"""Benchmark: how long POST /login takes for each kind of answer (issue 11 item 7).

    python bench/bench_sign_in.py --repeat 30
    python bench/bench_sign_in.py --database postgresql --pg-url postgresql://postgres@host/db

Builds the worklist app in-process (the real `create_app`, Starlette's TestClient, no network)
on a fresh database with four accounts: one that signs in, one with a wrong password typed, one
disabled and one locked. It then times POST /login for each path, interleaved round by round so
that load on the machine hits every path alike, and prints the median and the 90th percentile
per path. An unknown name, a disabled account and a locked one should cost what a wrong
password costs: one argon2 verification each. A script, not a test: nothing fails here.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout

from starlette.testclient import TestClient  # noqa: E402

from monitor.config import Config  # noqa: E402
from monitor.services.people.users import add_user  # noqa: E402
from monitor.store.db import make_engine, unit_of_work  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402
from monitor.store.models import User  # noqa: E402
from monitor.web.app import create_app  # noqa: E402

PASSWORD = "benchmark password"
SECRET = "bench-" + "s" * 40
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PG_DATABASE = "monitor_bench_sign_in"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

PATHS = {
    "right password": ("nina", PASSWORD),
    "wrong password": ("wendy", "not the password"),
    "unknown name": ("nobody", "whatever it is"),
    "disabled account": ("dora", PASSWORD),
    "locked account": ("lara", PASSWORD),
}


def prepare(engine: Engine) -> None:
    upgrade(engine)
    with unit_of_work(engine) as session:
        for name in ("nina", "wendy", "dora", "lara"):
            add_user(session, name=name, role="nurse", password=PASSWORD, actor="bench", now=NOW)
        users = {u.name: u for u in session.scalars(select(User))}
        users["dora"].is_active = False
        users["lara"].locked_until = NOW + timedelta(days=365)


def time_paths(engine: Engine, repeat: int) -> dict[str, list[float]]:
    # lockout_attempts at its maximum, so `wendy` is not locked while being timed.
    config = Config.model_validate({"web": {"lockout_attempts": 100}})
    app = create_app(config, engine, now=lambda: NOW, secret=SECRET)
    timings: dict[str, list[float]] = {path: [] for path in PATHS}
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(repeat):
            for path, (name, password) in PATHS.items():
                token = CSRF.search(client.get("/login").text)
                assert token is not None
                form = {"name": name, "password": password, "csrf": token.group(1)}
                started = time.perf_counter()
                response = client.post("/login", data=form)
                timings[path].append(time.perf_counter() - started)
                assert response.status_code == (303 if path == "right password" else 401), path
                client.cookies.clear()
            with unit_of_work(engine) as session:  # keep wendy below the lockout threshold
                session.execute(text("UPDATE users SET failed_logins = 0"))
    return timings


def report(label: str, timings: dict[str, list[float]]) -> None:
    reference = statistics.median(timings["wrong password"])
    print(f"\n### {label}\n")
    print("| answer | median ms | p90 ms | median / wrong password |")
    print("|---|---:|---:|---:|")
    for path, values in timings.items():
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        median = statistics.median(values)
        print(f"| {path} | {median * 1000:.0f} | {p90 * 1000:.0f} | {median / reference:.2f} |")


def run_sqlite(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        prepare(engine)
        report(f"SQLite, {repeat} rounds", time_paths(engine, repeat))
        engine.dispose()


def run_postgresql(server_url: str, repeat: int) -> None:
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
    url = make_url(server_url).set(database=PG_DATABASE).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        prepare(engine)
        report(f"PostgreSQL, {repeat} rounds", time_paths(engine, repeat))
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed rounds (every path each)")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.database in ("sqlite", "both"):
        run_sqlite(args.repeat)
    if args.database in ("postgresql", "both"):
        run_postgresql(args.pg_url, args.repeat)


if __name__ == "__main__":
    main()
