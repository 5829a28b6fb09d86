"""Benchmark: how long printing N reminder letters into one PDF takes (issue 14 item 4).

    python bench/bench_letters.py --letters 200 --repeat 3

`monitor letters` claims the letters for `services.mail.letters.PRINT_LEASE` (an hour) and puts
at most `MAX_LETTERS` (1,000) in one PDF, so a run must stay well inside the lease. This times
the printing alone (`notify.letters.letters_pdf`: WeasyPrint, an address page and a letter per
patient) on letters rendered as the daily cycle renders them; the database part is a few
queries. A script, not a test: nothing fails here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout

from monitor.notify.letters import Letter, letters_pdf, render_letter  # noqa: E402
from monitor.notify.messages import Clinic, TestDue  # noqa: E402
from monitor.notify.registry import PATIENT_TESTS_DUE  # noqa: E402

CLINIC = Clinic("Example MS Clinic", "0100 000 0000")


def letters(count: int) -> list[Letter]:
    on = date(2026, 3, 2)
    found = []
    for n in range(count):
        tests = [TestDue(p, on + timedelta(days=3 + n % 5)) for p in ("cbc", "tsh")]
        context = PATIENT_TESTS_DUE.draft(f"Patient{n}", CLINIC, tests).context()
        html = render_letter(PATIENT_TESTS_DUE.name, context, on=on)
        found.append(Letter(f"Flat {n}\n10 Example Road\nExampletown\nEX1 2MP", html))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batch = letters(args.letters)
    letters_pdf(batch[:1])  # WeasyPrint's first import and font set-up, not timed
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        pdf = letters_pdf(batch)
        timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    each = median / args.letters * 1000
    size = len(pdf) / 1e6
    print(f"{args.letters} letters ({2 * args.letters} pages, {size:.1f} MB): {median:.1f} s")
    print(f"(median of {args.repeat} runs), {each:.0f} ms a letter")


if __name__ == "__main__":
    main()
