"""Lab request forms: how long printing the bulk PDF takes for N patients due (issue 14).

Builds N patients on one alemtuzumab course each (through the services, on a fresh SQLite file
or the PostgreSQL URL given), all with tests overdue on the day, then times the query
(`request_forms`) and the printing (`request_forms_pdf`) separately, best of `--repeat`.

    .venv/bin/python bench/bench_request_forms.py --patients 200 [--database URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import parse_config
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.schedule.request_form_print import request_forms_pdf
from monitor.services.schedule.request_forms import request_forms
from monitor.store.db import make_engine, unit_of_work
from monitor.store.migrate import upgrade

NOW = datetime(2025, 1, 1, tzinfo=UTC)
ON = date(2025, 4, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database")
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    config = parse_config({"clinic": {"name": "Bench Clinic", "phone": "0100 000 0000"}})
    engine = make_engine(url)
    upgrade(engine)
    course = [date(2025, 1, 6) + timedelta(days=d) for d in range(5)]
    with unit_of_work(engine, config.catalogue) as session:
        for n in range(args.patients):
            mrn = f"B{n:06d}"
            add_patient(
                session, mrn=mrn, name=f"Patient {n}", email=None, born_on=date(1980, 1, 2),
                sex="F", site="main", actor="bench", now=NOW,
            )  # fmt: skip
            add_course(session, mrn=mrn, infused_on=course, actor="bench", now=NOW)
    query, printing, pages = [], [], 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        with unit_of_work(engine, config.catalogue) as session:
            forms = request_forms(session, ON, config.catalogue, config.code_map.loinc)
        query.append(time.perf_counter() - started)
        started = time.perf_counter()
        pdf = request_forms_pdf(forms, config.clinic)
        printing.append(time.perf_counter() - started)
        pages = len(forms)
    print(f"{engine.dialect.name}: {pages} forms, query best {min(query):.3f} s, "
          f"print best {min(printing):.2f} s ({min(printing) / pages * 1000:.0f} ms a form), "
          f"{len(pdf) / 1024:.0f} KiB; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    main()
