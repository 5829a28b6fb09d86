"""The README's test command passes on a fresh clone with nothing beside it (issue 10, item 5).

The sample lab messages the tests read are copied into tests/data/samples with their
provenance; nothing in the code, the tests or the benchmarks may reach for the folder they were
copied from, which only exists beside a CI checkout. CI also runs the suite from a copy of the
clone with no such folder beside it (.ci/run).
"""

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "samples"
SCANNED = ("monitor", "tests", "bench", "migrations", ".ci")
# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile(r"\.\./" + "shared|" + "shared/" + r"(samples|SPEC|reference)")


def scanned_files() -> list[Path]:
    files = []
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and SAMPLES not in path.parents and "__pycache__" not in path.parts:
                files.append(path)
    return files


def test_nothing_reads_the_shared_folder_beside_the_repository():
    files = scanned_files()
    assert len(files) > 50  # the scan found the repository's files
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_samples_are_in_the_repository_byte_for_byte_as_their_provenance_says():
    rows = {
        line.split("|")[1].strip(): line
        for line in (SAMPLES / "PROVENANCE.md").read_text().splitlines()
        if line.startswith("| ") and line.count("|") > 4
    }
    copied = sorted(p for p in SAMPLES.glob("*/*") if p.suffix in (".hl7", ".json"))
    assert len(copied) == 36
    unrecorded = [
        p.name
        for p in copied
        if hashlib.sha256(p.read_bytes()).hexdigest() not in rows.get(p.name, "")
    ]
    assert unrecorded == []
