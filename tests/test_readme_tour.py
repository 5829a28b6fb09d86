"""The README's tour runs as written (issue 10, item 6).

The ```sh block under "## A short tour" runs line by line through bash, in order, in an empty
folder holding what a fresh clone has beside the tour: `config.toml` and `examples/`. `monitor`
is this environment's command, found on PATH as an activated virtual environment finds it.

The rule for commands that never end: the tour block has none (`monitor run`, `serve` and
`listen-hl7` are shown in blocks of their own), and this test fails if one is added to it.
Every line must exit 0, except `monitor status`, whose exit 1 means "page someone" (its comment
in the tour says so); it must still exit 0 or 1, never 2, and nothing may print a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MONITOR = Path(sys.executable).parent / "monitor"
LONG_RUNNING = re.compile(r"^monitor (run|serve|listen-hl7)\b")


def tour_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## A short tour\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def fresh_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "clone"
    folder.mkdir()
    shutil.copy(ROOT / "config.toml", folder)
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PATH"] = f"{MONITOR.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_tour_has_the_examples_it_imports_and_nothing_that_runs_forever():
    lines = tour_lines()
    assert lines[0].startswith("monitor db upgrade") and len(lines) > 15
    assert [line for line in lines if LONG_RUNNING.match(line)] == []
    imported = [word for line in lines if " import " in line for word in line.split()[2:]]
    assert {"examples/results.hl7", "examples/results.json", "examples/results.csv"} <= set(
        imported
    )


def test_every_tour_command_runs_as_written_in_order(tmp_path):
    assert MONITOR.is_file(), f"{MONITOR} is missing: install the project in this environment"
    folder, env = fresh_folder(tmp_path), environment()
    for line in tour_lines():
        done = subprocess.run(
            ["bash", "-c", line], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )
        allowed = {0, 1} if line.startswith("monitor status") else {0}
        assert done.returncode in allowed, f"{line}\nexit {done.returncode}\n{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr, line

    def monitor_json(*args: str) -> object:
        out = subprocess.run(
            [str(MONITOR), *args], cwd=folder, env=env, capture_output=True, text=True, check=True
        ).stdout
        return json.loads(out)

    assert monitor_json("quarantine", "--json") == []  # every example result was taken in
    results = monitor_json("results", "MS0001", "--json")
    assert isinstance(results, list)
    assert {"citylab", "CITYLAB"} & {row["source"] for row in results}
    assert len(results) == 2 + 4 + 2 + 3  # the two typed in, then the HL7, FHIR and CSV files
    flags = monitor_json("flags", "--all", "--json")
    assert isinstance(flags, list)
    assert [(f["id"], f["analyte"], f["status"]) for f in flags] == [(1, "tsh", "acknowledged")]
