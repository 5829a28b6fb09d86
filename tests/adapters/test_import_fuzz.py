"""`monitor import` of a folder of fuzzed lab files beside one good file (issue 11, "Tests that
must exist"), on a real database (SQLite, and PostgreSQL when configured).

Each example writes a folder: one good CSV result (new every time) and a few fuzzed files:
real-looking HL7, FHIR and CSV cut, repeated or spliced with noise, or grown pathologically
(many OBX, long segments, deep or wide bundles, bad escapes). The limits are lowered so the
fuzz crosses each of them cheaply. Then the real command runs, and:

- it never prints a traceback and exits 0 (or 2, writing nothing);
- every file is reported, and every quarantined item has a reason, in the output and the table;
- the good file's result is stored whatever the rest of the folder holds.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.adapters import limits
from monitor.store.models import QuarantineItem, Result
from tests.conftest import Cli

CSV_HEADER = "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession\n"
HL7 = "\r".join(
    [
        "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1",
        "PID|1||A1^^^CITY^MR~X9^^^OTHER^PI||Example^Ann||19800101|F",
        "OBR|1||ACC1|58410-2^CBC^LN|||20240212083000",
        "OBX|1|NM|777-3^Platelets^LN||113|10*9/L|150-400|L|||F",
        "OBX|2|SN|751-8^Neutrophils^LN||^1.9|10^9/L|2.0-7.5|L|||F",
        "OBX|3|NM|2160-0^Creatinine^LN||0.9\\Zq\\|mg/dL|0.6-1.1||||C",
        "OBX|4|CE|5794-3^Blood^LN||1+^One plus||||||F",
        "OBX|5|ST|3016-3^TSH^LN||<0.01|mIU/L|0.3-5.0|L|||P",
        "OBX|6|NM|718-7^Hb^LN||13.5|g/dL|||||X",
        "NTE|1||a comment with \\T\\ and \\X41\\",
    ]
)
FHIR = json.dumps(
    {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:p",
                "resource": {"resourceType": "Patient", "id": "p", "identifier": [{"value": "A1"}]},
            },
            {
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "id": "r",
                    "status": "final",
                    "effectiveDateTime": "2024-02-12T08:30:00+01:00",
                    "identifier": [{"value": "R1"}],
                    "contained": [
                        {
                            "resourceType": "Observation",
                            "id": "o1",
                            "status": "final",
                            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
                            "subject": {"reference": "urn:uuid:p"},
                            "valueQuantity": {"value": 95, "unit": "10*9/L"},
                        }
                    ],
                    "result": [{"reference": "#o1"}, {"reference": "Observation/missing"}],
                }
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "o2",
                    "status": "amended",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
                    "subject": {"identifier": {"value": "A1"}},
                    "effectiveDateTime": "2024-02-12",
                    "valueQuantity": {
                        "value": 1.2,
                        "system": "http://unitsofmeasure.org",
                        "code": "mg/dL",
                    },
                    "hasMember": [{"reference": "#x"}],
                }
            },
        ],
    }
)
CSV = CSV_HEADER + (
    "A1,platelets,210,K/uL,2024-02-12,150,400,lab,S1\n"
    "A1,777-3,1e400,K/uL,2024-02-13,,,lab,S2\n"
    "A1,creatinine,80,umol/L,2024-02-12,nan,90,lab,\n"
)
SEEDS = (HL7, FHIR, CSV)
NOISE = [
    "|",
    "^",
    "~",
    "\\",
    "&",
    "\r",
    "\n",
    "MSH|",
    "OBX|1|SN|777-3||",
    "{",
    "}",
    '"',
    ",",
    "\x00",
]
accessions = itertools.count(1)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A seed with a slice cut out, a slice repeated many times, or noise spliced in."""
    text = draw(st.sampled_from(SEEDS))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 300)))
    noise = draw(st.text(max_size=30) | st.sampled_from(NOISE))
    how = draw(st.sampled_from(["cut", "repeat", "splice"]))
    if how == "cut":
        return text[:start] + text[end:]
    if how == "repeat":
        return text[:end] + text[start:end] * draw(st.integers(1, 40)) + text[end:]
    return text[:start] + noise + text[end:]


@st.composite
def grown(draw: st.DrawFn) -> str:
    """Input built to cross a limit: many OBX or entries, a long segment, deep nesting."""
    how = draw(st.sampled_from(["obx", "pid", "entries", "deep", "rows"]))
    count = draw(st.integers(1, 40))
    if how == "obx":
        head, obx = HL7.split("\rOBX|1", 1)
        return head + ("\rOBX|1" + obx.split("\r")[0]) * count
    if how == "pid":
        return HL7.replace("Example^Ann", "Example^" + "A" * (count * 100))
    if how == "rows":
        return CSV + "A1,platelets,211,K/uL,2024-02-14,,,lab,\n" * count
    document = json.loads(FHIR)
    if how == "entries":
        document["entry"] += [document["entry"][2]] * count
        return json.dumps(document)
    for _ in range(count):
        document = {"resourceType": "Bundle", "type": "collection", "entry": [document]}
    return json.dumps(document)


lab_file = st.one_of(mutated(), grown(), st.binary(max_size=300).map(lambda b: b.decode("latin-1")))


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_OBX_PER_MESSAGE", 20)
    monkeypatch.setattr(limits, "MAX_CONTEXT_SEGMENT_CHARS", 2_000)
    monkeypatch.setattr(limits, "MAX_FHIR_RESOURCES", 30)
    monkeypatch.setattr(limits, "MAX_FHIR_PATIENT_CHARS", 2_000)
    monkeypatch.setattr(limits, "MAX_CSV_ROWS", 20)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 12_000)


@pytest.fixture
def patient(cli: Cli) -> str:
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    return "A1"


REPORT = re.compile(
    r"^(.*): (\d+) stored, (\d+) already there, (\d+) quarantined, (\d+) not results$"
)


def files_reported(out: str) -> tuple[dict[str, int], list[str]]:
    """Each file's quarantined count, and the reasons listed under the files (not the total)."""
    per_file: dict[str, int] = {}
    reasons: list[str] = []
    label = ""
    for line in out.splitlines():
        if match := REPORT.match(line):
            label = match[1]
            if label != "total":
                per_file[label] = int(match[4])
        elif line.startswith("  quarantine ") and label != "total":
            reasons.append(line.split(": ", 1)[1] if ": " in line else "")
    return per_file, reasons


def table_counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        results = session.scalar(select(func.count()).select_from(Result)) or 0
        quarantined = session.scalar(select(func.count()).select_from(QuarantineItem)) or 0
    return results, quarantined


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.lists(lab_file, min_size=1, max_size=4))
def test_a_fuzzed_folder_never_crashes_and_loses_nothing_good(
    cli: Cli,
    engine: Engine,
    patient: str,
    small_limits: None,
    tmp_path_factory: pytest.TempPathFactory,
    files: list[str],
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    good = f"GOOD{next(accessions)}"
    (folder / "0-good.csv").write_text(
        CSV_HEADER + f"A1,platelets,222,K/uL,2024-02-20,,,lab,{good}\n", encoding="utf-8"
    )
    for number, text in enumerate(files, start=1):
        (folder / f"{number}-fuzz.txt").write_bytes(text.encode("utf-8", "surrogatepass"))
    results_before, quarantined_before = table_counts(engine)

    result = cli("import", str(folder))

    assert "Traceback" not in result.out + result.err
    assert result.code in (0, 2), result.out + result.err
    results_after, quarantined_after = table_counts(engine)
    if result.code == 2:  # refused as a whole: nothing written, and the message says why
        assert (results_after, quarantined_after) == (results_before, quarantined_before)
        assert result.err.strip()
        return
    per_file, reasons = files_reported(result.out)
    assert len(per_file) == 1 + len(files)  # every file reported
    assert all(reason.strip() for reason in reasons)
    assert len(reasons) == sum(quarantined for quarantined in per_file.values())
    assert quarantined_after - quarantined_before == len(reasons)
    with Session(engine) as session:
        new_items = session.scalars(
            select(QuarantineItem).order_by(QuarantineItem.id.desc()).limit(len(reasons) or 1)
        ).all()
        assert all(item.reason.strip() and item.format for item in new_items[: len(reasons)])
        kept = session.scalar(select(func.count()).where(Result.accession == good))
    assert kept == 1  # the good file went in whatever the fuzzed files held
