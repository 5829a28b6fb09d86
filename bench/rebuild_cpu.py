"""CPU seconds (this process: Python and SQLite) of the per-patient rebuild (the old
`rebuild_schedules`: `touch` per chunk of 50) against the bulk rebuild, on one kept clinic:

    python bench/bench_rebuild.py --patients 300 --sqlite-file /tmp/r300.db --load-only
    python bench/rebuild_cpu.py sqlite:////tmp/r300.db

CPU, not wall, because it was written for a machine shared at load 20 (BENCHMARKS.md).
"""

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_rebuild import NEW, OLD
from sqlalchemy import delete, select, text

from monitor.services.schedule.fingerprints import rebuild_schedules
from monitor.services.schedule.upkeep import touch
from monitor.store.db import make_engine, unit_of_work
from monitor.store.models import Patient, Slot

url = sys.argv[1]
engine = make_engine(url)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def per_patient(catalogue):
    last = 0
    while True:
        with unit_of_work(engine, catalogue) as session:
            ids = session.scalars(
                select(Patient.id).where(Patient.id > last).order_by(Patient.id).limit(50)
            ).all()
            touch(session, ids)
        if not ids:
            return
        last = ids[-1]


def timed(label, action):
    c, w = cpu(), time.perf_counter()
    action()
    print(f"{label}: CPU {cpu() - c:.2f} s, wall {time.perf_counter() - w:.1f} s", flush=True)


def empty():
    with engine.begin() as c:
        c.execute(delete(Slot))


def bulk(cat):
    return lambda: rebuild_schedules(engine, cat, only_stale=False, workers=0)


with engine.connect() as c:
    print(
        "patients",
        c.scalar(text("select count(*) from patients")),
        "load",
        open("/proc/loadavg").read().split()[:3],
    )
empty()
timed("per-patient, empty table -> OLD", lambda: per_patient(OLD))
empty()
timed("bulk,        empty table -> OLD", bulk(OLD))
timed("per-patient, OLD -> NEW (tsh every 2 months)", lambda: per_patient(NEW))
bulk(OLD)()
timed("bulk,        OLD -> NEW (tsh every 2 months)", bulk(NEW))
timed("per-patient, NEW -> NEW (nothing changes)", lambda: per_patient(NEW))
timed("bulk,        NEW -> NEW (nothing changes)", bulk(NEW))
with engine.connect() as c:
    print(
        "slots",
        c.scalar(text("select count(*) from slots")),
        "load",
        open("/proc/loadavg").read().split()[:3],
    )
