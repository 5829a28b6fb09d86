"""`bench_import.py --throughput`: `monitor import FILE` as a whole process into a large clinic
(issue 15 items 2 and 6), beside a hand-written floor.

    python bench/bench_import.py --throughput --patients 10000 --messages 200,2000 \
        --database both --pg-url postgresql://postgres@127.0.0.1:5432/postgres --keep \
        --mllp 300 [--profile /tmp/import.prof]

Builds `bench_schedule.py`'s synthetic clinic (alemtuzumab patients, their results, slots from a
full rebuild) once, into `--workdir` (SQLite: a file and a pristine copy) and a PostgreSQL
database with a pristine template; `--keep` reuses them on the next run. For each size it writes
one HL7 file of N ORU^R01 messages x 4 OBX (platelets, neutrophils, hemoglobin, creatinine; final;
collected in the last days before the clinic's today), each for a different existing patient,
then times `monitor import FILE` as a subprocess (`python -m monitor`, from
`$MONITOR_BENCH_SOURCE` if set: a checkout of the code before a change): wall time and CPU time
(`getrusage(RUSAGE_CHILDREN)`), median of 3, restoring the database before each run.

The floor: the same result rows inserted and the same slot columns updated (the difference the
product's run made to the slots table, read after it, untimed), and one `slot_changes` row per
patient, written with the DBAPI's `executemany` in one transaction on a restored database.
`--mllp N` then sends the file's first N messages to `monitor listen-hl7` (a process, on a
free local port) with the `hl7` package's MLLP client, one after another, each waiting for its
ACK (one transaction per message), timed from the first send to the last ACK; its floor is the
same rows written with one transaction per message. `--profile PATH` writes a cProfile of one
file import first. A script, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from bench_schedule import load_clinic  # noqa: E402

from monitor.config import Config  # noqa: E402
from monitor.services.schedule.fingerprints import rebuild_schedules  # noqa: E402
from monitor.store.db import make_engine  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402

TODAY = date(2026, 11, 27)  # bench_schedule's clinic day
OBX = (  # LOINC, unit, a normal value: four analytes of alemtuzumab's monthly panel
    ("777-3", "10*9/L", "210", "platelets"),
    ("751-8", "10*9/L", "4.1", "neutrophils"),
    ("718-7", "g/L", "135", "hemoglobin"),
    ("2160-0", "mg/dL", "0.9", "creatinine"),
)
PG_BASE = "bench_import_base"
PG_RUN = "bench_import_run"
SLOT_COLUMNS = ("next_window_start", "done_on", "completed_on")


@dataclass
class Clinic:
    name: str
    url: str  # the database `monitor import` writes to
    restore: Any  # () -> None: back to the pristine clinic


def build_sqlite(args: argparse.Namespace) -> Clinic:
    folder = Path(args.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    base, run = folder / "base.db", folder / "run.db"
    if not (args.keep and base.exists()):
        base.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{base}")
        build(engine, args)
        engine.dispose()

    def restore() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{run}{suffix}").unlink(missing_ok=True)
        for suffix in ("", "-wal"):  # the log too, if the build's last close left one
            if Path(f"{base}{suffix}").exists():
                shutil.copyfile(f"{base}{suffix}", f"{run}{suffix}")
        os.sync()  # else the run's first fsync writes back the whole 1.5 GB copy, timed

    return Clinic("sqlite", f"sqlite:///{run}", restore)


def build_postgresql(args: argparse.Namespace) -> Clinic:
    import psycopg

    admin_url = args.pg_url
    server = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PG_BASE,)
        ).fetchone()
        if not (args.keep and exists):
            admin.execute(f"DROP DATABASE IF EXISTS {PG_RUN} WITH (FORCE)")
            admin.execute(f"DROP DATABASE IF EXISTS {PG_BASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {PG_BASE}")
            engine = make_engine(f"{server}/{PG_BASE}")
            build(engine, args)
            engine.dispose()

    def restore() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_RUN} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {PG_RUN} TEMPLATE {PG_BASE}")
        with psycopg.connect(f"{server}/{PG_RUN}", autocommit=True) as copy:
            copy.execute("ANALYZE")  # a clinic's database has statistics (autovacuum); a copy not

    return Clinic("postgresql", f"{server}/{PG_RUN}", restore)


def build(engine: Any, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    upgrade(engine)
    load = argparse.Namespace(
        patients=args.patients, chunk=250, seed=args.seed, today=TODAY, mix="alemtuzumab"
    )
    counts = load_clinic(engine, load)
    realistic_results(engine)
    rebuild_schedules(engine, Config().catalogue, only_stale=False)
    print(
        f"  built {counts.get('patients', 0)} patients, {counts.get('results', 0)} results "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


# The generator stores every result as "1" "x" (enough for the schedule); the rules that read a
# patient's history measure it again, so the import's clinic needs values a lab could send.
NORMAL = {
    "platelets": "210", "neutrophils": "4.0", "lymphocytes": "1.5", "wbc": "6.0",
    "hemoglobin": "135", "creatinine": "70", "bilirubin": "10", "alt": "20", "ast": "20",
    "tsh": "2.0", "free_t4": "15", "upcr": "10", "urine_rbc": "1",
}  # fmt: skip


def realistic_results(engine: Any) -> None:
    from monitor.domain.units import ORDINAL_SCALES, UNITS

    with engine.begin() as connection:
        for analyte, value in NORMAL.items():
            connection.execute(
                text(
                    "UPDATE results SET value = :value, unit = :unit, canonical_value = :number "
                    "WHERE analyte = :analyte"
                ),
                {"value": value, "unit": UNITS[analyte][0], "number": float(value),
                 "analyte": analyte},
            )  # fmt: skip
        for analyte, scale in ORDINAL_SCALES.items():
            connection.execute(
                text(
                    "UPDATE results SET value = :word, unit = '', ordinal = :word "
                    "WHERE analyte = :analyte"
                ),
                {"word": scale[0], "analyte": analyte},
            )


def hl7_file(messages: int, patients: int, seed: int) -> tuple[str, list[int]]:
    """N messages, each for its own existing patient, 4 OBX collected on one recent day."""
    rng = random.Random(seed)
    chosen = rng.sample(range(1, patients + 1), min(messages, patients))
    lines = []
    for number, patient in enumerate(chosen, 1):
        taken = datetime.combine(TODAY - timedelta(days=rng.randint(0, 6)), datetime.min.time())
        stamp = (taken.replace(tzinfo=UTC) + timedelta(hours=9)).strftime("%Y%m%d%H%M%S+0000")
        segments = [
            f"MSH|^~\\&|LAB|BENCHLAB|MON|CLINIC|{stamp}||ORU^R01|M{number}|P|2.5.1",
            f"PID|1||B{patient:07d}^^^BENCH^MR",
            f"OBR|1||ACC{number}|58410-2^CBC^LN|||{stamp}",
        ]
        for i, (code, unit, value, _analyte) in enumerate(OBX, 1):
            segments.append(f"OBX|{i}|NM|{code}^^LN||{value}|{unit}|||||F|||{stamp}")
        lines.append("\r".join(segments) + "\r")
    return "\n".join(lines), chosen


def run_import(clinic: Clinic, path: Path, config: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one `monitor import` process, and its last line of output."""
    clinic.restore()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "MONITOR_DATABASE_URL": clinic.url, "MONITOR_CONFIG": str(config)}
    source = os.environ.get("MONITOR_BENCH_SOURCE", str(ROOT))  # the code under test
    env["PYTHONPATH"] = source
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "import", str(path)],
        cwd=source,  # `-m` puts the working folder first on the path
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"monitor import failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, cpu, done.stdout.strip().splitlines()[-1]


SLOT_KEY = ("patient_id", "protocol", "panel", "due_on")  # unique: a rebuild gives new ids


def slot_snapshot(url: str, patients: list[int]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                f"SELECT {', '.join(SLOT_KEY + SLOT_COLUMNS)} FROM slots "
                f"WHERE patient_id IN ({', '.join(str(p) for p in patients)})"
            )
        ).all()
    engine.dispose()
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def floor(
    clinic: Clinic, chosen: list[int], changes: list[tuple[Any, ...]], *, per_message: bool = False
) -> tuple[float, float]:
    """The same result rows and slot updates, plain SQL, in one transaction (or one per message,
    as MLLP commits); wall and CPU seconds (this process's: all of SQLite's work, PostgreSQL's
    client side only, as for the product)."""
    clinic.restore()
    now = datetime.now(UTC)
    insert = (
        "INSERT INTO results (patient_id, analyte, value, unit, collected_on, status, source, "
        "received_at, is_menstruating) VALUES ({})"
    )
    update = "UPDATE slots SET next_window_start = {0}, done_on = {0}, completed_on = {0} "
    update += "WHERE patient_id = {0} AND protocol = {0} AND panel = {0} AND due_on = {0}"
    record = "INSERT INTO slot_changes (patient_id, changed_at) VALUES ({0}, {0})"
    batches = [chosen] if not per_message else [[patient] for patient in chosen]
    if clinic.name == "sqlite":
        connection = sqlite3.connect(clinic.url.removeprefix("sqlite:///"), isolation_level=None)
        sqlite3.register_adapter(date, date.isoformat)
        sqlite3.register_adapter(datetime, lambda d: d.isoformat(" "))
        connection.execute("PRAGMA synchronous=NORMAL")  # the product's pragmas
        mark = "?"
    else:
        import psycopg

        connection = psycopg.connect(clinic.url)
        mark = "%s"
    cursor = connection.cursor()
    cursor.execute("SELECT count(*) FROM patients")  # opened (and the log read) before timing
    cursor.fetchall()
    if clinic.name != "sqlite":
        connection.commit()
    started, cpu = time.perf_counter(), time.process_time()
    for patients in batches:
        mine = set(patients)
        results = [
            (patient, analyte, value, unit, TODAY, "final", "lab", now, False)
            for patient in patients
            for _code, unit, value, analyte in OBX
        ]
        if clinic.name == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        cursor.executemany(insert.format(", ".join([mark] * 9)), results)
        slot_rows = changes if not per_message else [c for c in changes if c[3] in mine]
        if slot_rows:
            cursor.executemany(update.format(mark), slot_rows)
        cursor.executemany(record.format(mark), [(patient, now) for patient in patients])
        connection.commit() if clinic.name != "sqlite" else cursor.execute("COMMIT")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    connection.close()
    return seconds, cpu


def run_mllp(clinic: Clinic, messages: list[str], config: Path) -> tuple[float, float, str]:
    """`monitor listen-hl7` as a process, fed the messages one after another by the `hl7`
    package's MLLP client (each waits for its ACK, as a lab's sender does): wall seconds from
    the first message sent to the last ACK, the listener's CPU seconds (start-up included) and
    the ACK codes."""
    from hl7.client import MLLPClient

    clinic.restore()
    env = {**os.environ, "MONITOR_DATABASE_URL": clinic.url, "MONITOR_CONFIG": str(config)}
    source = os.environ.get("MONITOR_BENCH_SOURCE", str(ROOT))
    env["PYTHONPATH"] = source
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    listener = subprocess.Popen(
        [sys.executable, "-m", "monitor", "listen-hl7", "--host", "127.0.0.1", "--port", "0"],
        cwd=source,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert listener.stdout is not None
    line = listener.stdout.readline()  # "listening for HL7 (MLLP) on 127.0.0.1:PORT"
    if "listening" not in line:
        listener.kill()
        raise SystemExit(f"monitor listen-hl7 did not start: {line!r}")
    port = int(line.rsplit(":", 1)[1])
    codes: dict[str, int] = {}
    started = time.perf_counter()
    with MLLPClient("127.0.0.1", port) as client:
        for message in messages:
            ack = client.send_message(message).decode("utf-8", "replace")
            code = ack.split("MSA|", 1)[1][:2] if "MSA|" in ack else "none"
            codes[code] = codes.get(code, 0) + 1
    wall = time.perf_counter() - started
    listener.send_signal(signal.SIGTERM)
    listener.wait(timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, " ".join(f"{code} {n}" for code, n in sorted(codes.items()))


def measure(clinic: Clinic, args: argparse.Namespace, messages: int) -> list[dict[str, Any]]:
    """The file import, then (with `--mllp`) the same messages over MLLP; each beside its
    floor."""
    folder = Path(args.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    document, chosen = hl7_file(messages, args.patients, args.seed + messages)
    path = folder / f"oru_{messages}.hl7"
    path.write_text(document)
    config = folder / "config.toml"
    config.write_text((ROOT / "config.toml").read_text())
    if args.profile:
        profile(clinic, path, config, Path(args.profile))
    runs = [run_import(clinic, path, config) for _ in range(args.repeat)]
    clinic.restore()
    before = slot_snapshot(clinic.url, chosen)
    run_import(clinic, path, config)
    after = slot_snapshot(clinic.url, chosen)
    changes = [(*after[key], *key) for key in after if before.get(key) != after[key]]
    rows = [
        row_of(
            clinic,
            "file",
            messages,
            runs,
            [floor(clinic, chosen, changes) for _ in range(args.repeat)],
            changes,
        )
    ]
    if args.mllp:
        sent = min(args.mllp, messages)  # the first messages of the file, one by one
        texts, patients = document.split("\n")[:sent], chosen[:sent]
        mllp = [run_mllp(clinic, texts, config) for _ in range(args.repeat)]
        floors = [floor(clinic, patients, changes, per_message=True) for _ in range(args.repeat)]
        rows.append(row_of(clinic, "mllp", sent, mllp, floors, changes))
    return rows


def row_of(
    clinic: Clinic,
    mode: str,
    messages: int,
    runs: list[tuple[float, float, str]],
    floors: list[tuple[float, float]],
    changes: list[Any],
) -> dict[str, Any]:
    return {
        "db": clinic.name,
        "mode": mode,
        "messages": messages,
        "wall": statistics.median(r[0] for r in runs),
        "walls": [r[0] for r in runs],
        "cpu": statistics.median(r[1] for r in runs),
        "floor": statistics.median(f[0] for f in floors),
        "floor_cpu": statistics.median(f[1] for f in floors),
        "changed_slots": len(changes),
        "output": runs[0][2],
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def profile(clinic: Clinic, path: Path, config: Path, out: Path) -> None:
    """One file import under cProfile (`python -m cProfile -o OUT -m monitor import FILE`)."""
    clinic.restore()
    env = {**os.environ, "MONITOR_DATABASE_URL": clinic.url, "MONITOR_CONFIG": str(config)}
    source = os.environ.get("MONITOR_BENCH_SOURCE", str(ROOT))
    env["PYTHONPATH"] = source
    command = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "monitor", "import"]
    subprocess.run([*command, str(path)], cwd=source, env=env, check=True, capture_output=True)
    print(f"  profile of {path.name} written to {out}", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--messages", default="200,2000")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("MONITOR_BENCH_PG_URL"))
    parser.add_argument("--workdir", default="/tmp/monitor-import-bench")
    parser.add_argument("--keep", action="store_true", help="reuse the clinic built last time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--mllp", type=int, default=0, help="send the file's first N messages over MLLP too"
    )
    parser.add_argument("--profile", help="write a cProfile of one file import to this path")
    args = parser.parse_args(argv)
    names = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in names and not args.pg_url:
        parser.error("PostgreSQL needs --pg-url (any database on the server)")
    print(f"uptime load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(
        "| db | mode | messages | wall s (runs) | msg/s | CPU s | msg per CPU s | floor s "
        "(CPU s) | wall / floor | CPU / floor CPU | slots |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for name in names:
        clinic = build_sqlite(args) if name == "sqlite" else build_postgresql(args)
        for messages in (int(m) for m in args.messages.split(",") if m):
            for row in measure(clinic, args, messages):
                walls = ", ".join(f"{w:.2f}" for w in row["walls"])
                sent = row["messages"]
                print(
                    f"| {row['db']} | {row['mode']} | {sent:,} | {row['wall']:.2f} ({walls}) | "
                    f"{sent / row['wall']:.0f} | {row['cpu']:.2f} | {sent / row['cpu']:.0f} | "
                    f"{row['floor']:.3f} ({row['floor_cpu']:.3f}) | "
                    f"{row['wall'] / row['floor']:.1f}x | "
                    f"{row['cpu'] / max(row['floor_cpu'], 1e-6):.1f}x | {row['changed_slots']} |  "
                    f"<!-- load {row['load']}; {row['output']} -->",
                    flush=True,
                )
