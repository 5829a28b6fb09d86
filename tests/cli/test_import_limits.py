"""Pathological lab files (issue 11 item 10): over a limit, refused whole with a reason naming
it and quarantined; the rest of the batch still goes in. And a file's results are judged once
per patient, with the same flags and slots as one result at a time.

Timings are not asserted here (bench/bench_import.py measures them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.adapters import limits
from monitor.store.models import Flag, OutboxMessage, Patient, QuarantineItem, Result
from tests.conftest import Cli

COLLECTED = "20240212083000"
CSV_HEADER = "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession\n"


def oru(
    *obx: str, mrn: str = "A1", control: str = "C1", pid_extra: str = "", collected: str = COLLECTED
) -> str:
    """One ORU^R01; with `collected=""` each OBX's own time (OBX-14) is its collection time."""
    segments = [
        f"MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|{control}|P|2.5.1",
        f"PID|1||{mrn}^^^CITY^MR||Example^Ann{pid_extra}",
        f"OBR|1||ACC-{control}|58410-2^CBC^LN|||{collected}",
        *obx,
    ]
    return "\r".join(segments) + "\r"


def platelets(n: int, value: str = "210") -> str:
    return f"OBX|{n}|NM|777-3^Platelets^LN||{value}|10*9/L|||||F|||{COLLECTED[:8]}{n % 24:02d}00"


def many_obx(count: int, control: str = "BIG") -> str:
    """`count` platelet results, each its own hour (so each is new while count <= 24)."""
    return oru(*(platelets(n) for n in range(1, count + 1)), control=control, collected="")


def bundle(entries: int, mrn: str = "A1", patient: dict[str, Any] | None = None) -> str:
    person = patient or {"resourceType": "Patient", "id": "p", "identifier": [{"value": mrn}]}
    rows: list[dict[str, Any]] = [{"fullUrl": "urn:uuid:p", "resource": person}]
    for i in range(entries):
        rows.append(
            {
                "fullUrl": f"urn:uuid:o{i}",
                "resource": {
                    "resourceType": "Observation",
                    "id": f"o{i}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
                    "subject": {"reference": "urn:uuid:p"},
                    "effectiveDateTime": f"2024-02-12T{i % 24:02d}:00:00+00:00",
                    "valueQuantity": {"value": 210, "unit": "10*9/L"},
                },
            }
        )
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": rows})


@pytest.fixture
def patient(cli: Cli) -> str:
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    return "A1"


def quarantined(engine: Engine) -> list[QuarantineItem]:
    with Session(engine) as session:
        return list(session.scalars(select(QuarantineItem).order_by(QuarantineItem.id)))


def stored(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.scalars(select(Result.id)).all())


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_folder_with_a_20000_obx_message_and_a_10000_entry_bundle_keeps_the_good_files(
    cli: Cli, patient: str, engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder, "1-big.hl7", many_obx(20_000))
    write(folder, "2-good.hl7", oru(platelets(1, "205"), control="GOOD"))
    write(folder, "3-big.json", bundle(10_000))
    write(folder, "4-good.csv", CSV_HEADER + "A1,creatinine,80,umol/L,2024-02-12,,,,\n")

    result = cli("import", str(folder))

    assert result.code == 0, result.err
    assert "Traceback" not in result.out + result.err
    assert "1-big.hl7: 0 stored, 0 already there, 1 quarantined" in result.out
    assert "holds 20,000 OBX segments, over the limit of 1,000" in result.out
    assert "3-big.json: 0 stored, 0 already there, 1 quarantined" in result.out
    assert "holds 10,002 resources, over the limit of 5,000" in result.out
    assert stored(engine) == 2  # the two good files, whole
    items = quarantined(engine)
    assert [i.format for i in items] == ["hl7", "fhir"]
    assert items[0].source == "CITYLAB" and items[0].raw.count("\rOBX|") == 20_000  # kept whole


def test_the_obx_limit_is_exact(
    cli: Cli, patient: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_OBX_PER_MESSAGE", 3)
    at = cli.ok("import", str(write(tmp_path, "at.hl7", many_obx(3, "AT"))))
    over = cli.ok("import", str(write(tmp_path, "over.hl7", many_obx(4, "OVER"))))
    assert "3 stored" in at
    assert "0 stored, 0 already there, 1 quarantined" in over and "4 OBX segments" in over


def test_a_pid_segment_over_the_limit_refuses_the_message(
    cli: Cli, patient: str, engine: Engine, tmp_path: Path
) -> None:
    long_pid = oru(platelets(1), pid_extra="^" + "X" * limits.MAX_CONTEXT_SEGMENT_CHARS)
    out = cli.ok("import", str(write(tmp_path, "pid.hl7", long_pid)))
    assert "1 quarantined" in out and "segment 2 (PID) is 16," in out
    assert "over the limit of 16,384" in out
    assert stored(engine) == 0


def test_a_long_obx_is_not_a_context_segment(
    cli: Cli, patient: str, engine: Engine, tmp_path: Path
) -> None:
    """An embedded report (OBX-5 ED) may be long: only MSH, PID and OBR are copied per result."""
    pdf = "OBX|2|ED|11502-2^Report^LN||^application^pdf^Base64^" + "A" * 200_000 + "||||||F"
    out = cli.ok("import", str(write(tmp_path, "pdf.hl7", oru(platelets(1), pdf))))
    assert "1 stored" in out and "too large" not in out


def test_a_bundle_counts_nested_and_contained_resources(
    cli: Cli, patient: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_FHIR_RESOURCES", 5)
    inner = json.loads(bundle(1))
    inner["entry"][1]["resource"]["contained"] = [{"resourceType": "Specimen", "id": "s"}]
    outer = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]}
    # Five: the outer and inner Bundles, the Patient, the Observation and its Specimen.
    out = cli.ok("import", str(write(tmp_path, "nested.json", json.dumps(outer))))
    assert "1 stored" in out
    inner["entry"].append({"resource": {"resourceType": "Specimen", "id": "t"}})
    out = cli.ok("import", str(write(tmp_path, "nested2.json", json.dumps(outer))))
    assert "holds 6 resources, over the limit of 5" in out


def test_a_patient_resource_over_the_limit_refuses_the_document(
    cli: Cli, patient: str, engine: Engine, tmp_path: Path
) -> None:
    person = {
        "resourceType": "Patient",
        "id": "p",
        "identifier": [{"value": "A1"}],
        "address": [{"text": "x" * limits.MAX_FHIR_PATIENT_CHARS}],
    }
    out = cli.ok("import", str(write(tmp_path, "fat.json", bundle(3, patient=person))))
    assert "0 stored, 0 already there, 1 quarantined" in out
    assert "a Patient resource is 16," in out
    assert stored(engine) == 0


def test_a_csv_over_the_row_limit_is_refused_whole(
    cli: Cli, patient: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_CSV_ROWS", 2)
    rows = "".join(f"A1,platelets,210,K/uL,2024-02-1{d},,,,\n" for d in (1, 2, 3))
    out = cli.ok("import", str(write(tmp_path, "rows.csv", CSV_HEADER + rows)))
    assert "holds 3 rows, over the limit of 2" in out
    assert stored(engine) == 0


def test_a_file_over_the_size_limit_is_not_read_and_cannot_be_retried_into_part_of_it(
    cli: Cli, patient: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1_000)
    big = write(tmp_path, "big.hl7", many_obx(30, "HUGE"))
    good = write(tmp_path, "good.hl7", oru(platelets(1), control="OK"))

    out = cli.ok("import", str(big), str(good))

    assert f"the file is {big.stat().st_size:,} bytes long, over the limit of 1,000" in out
    assert "good.hl7: 1 stored" in out
    (item,) = quarantined(engine)
    assert item.raw.startswith("MSH|") and "\r" not in item.raw and "\n" not in item.raw
    cli.ok("quarantine", "retry", str(item.id))
    assert stored(engine) == 1  # the MSH alone holds no result: nothing of the file went in
    (item,) = quarantined(engine)
    assert item.status.value == "open"


# --- one patient's results are judged together, with the outcome of one at a time ------------

# Dated in order, so one-at-a-time sees every earlier result, as the whole file does: a
# pre-treatment baseline, then falls, rises and same-day partners that fire the combined rules.
SERIES = (
    ("777-3^Platelets^LN", "250", "10*9/L", "20240105"),
    ("2160-0^Creatinine^LN", "0.8", "mg/dL", "20240105"),
    ("718-7^Hemoglobin^LN", "14.0", "g/dL", "20240105"),
    ("777-3^Platelets^LN", "120", "10*9/L", "20240212"),
    ("2160-0^Creatinine^LN", "1.6", "mg/dL", "20240212"),
    ("5794-3^Blood urine^LN", "2+", "", "20240212"),
    ("718-7^Hemoglobin^LN", "11.5", "g/dL", "20240212"),
    ("777-3^Platelets^LN", "25", "10*9/L", "20240311"),
    ("1742-6^ALT^LN", "400", "U/L", "20240311"),
    ("1975-2^Bilirubin^LN", "3.5", "mg/dL", "20240311"),
)


def series_obx(n: int, code: str, value: str, unit: str, day: str) -> str:
    kind = "ST" if not unit else "NM"
    return f"OBX|{n}|{kind}|{code}||{value}|{unit}|||||F|||{day}090000"


def judged(engine: Engine, mrn: str) -> list[tuple[str, str, str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Result.analyte, Result.value, Flag.rule, Flag.severity)
            .join(Flag, Flag.result_id == Result.id)
            .join(Patient, Patient.id == Result.patient_id)
            .where(Patient.mrn == mrn)
        ).all()
    return sorted((a, v, r, str(s)) for a, v, r, s in rows)


def urgent_alerts(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.scalars(select(OutboxMessage.id)).all())


def test_a_file_judged_at_once_raises_the_flags_of_one_result_at_a_time(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    for mrn in ("A1", "B1"):
        cli.ok("patient", "add", mrn, "--name", f"Ann{mrn} Example", "--sex", "F")
        cli.ok("course", "add", mrn, "--start", "2024-01-08", "--days", "5")
    obx = [series_obx(n, *row) for n, row in enumerate(SERIES, start=1)]
    whole = oru(*obx, mrn="A1", control="W", collected="")
    assert f"{len(SERIES)} stored" in cli.ok("import", str(write(tmp_path, "whole.hl7", whole)))
    alerts_after_whole = urgent_alerts(engine)
    for n, segment in enumerate(obx):
        one = oru(segment, mrn="B1", control=f"S{n}", collected="")
        assert "1 stored" in cli.ok("import", str(write(tmp_path, f"one-{n}.hl7", one)))

    flags_whole, flags_one_by_one = judged(engine, "A1"), judged(engine, "B1")
    assert flags_whole == flags_one_by_one
    rules = {rule for _, _, rule, _ in flags_whole}
    # The previous result, the pre-treatment baseline and same-day partners were all read.
    assert {
        "platelets.fall",
        "hemoglobin.baseline_drop",
        "creatinine.rise_with_haematuria",
    } <= rules
    assert urgent_alerts(engine) == 2 * alerts_after_whole > 0
    schedule_a = json.loads(cli.ok("schedule", "A1", "--as-of", "2024-03-20", "--json"))
    schedule_b = json.loads(cli.ok("schedule", "B1", "--as-of", "2024-03-20", "--json"))
    assert [s["status"] for s in schedule_a["slots"]] == [s["status"] for s in schedule_b["slots"]]


def test_a_result_and_its_correction_in_one_file(cli: Cli, patient: str, tmp_path: Path) -> None:
    text = oru(platelets(1, "90"), platelets(1, "210").replace("||F|", "||C|"))
    out = cli.ok("import", str(write(tmp_path, "both.hl7", text)))
    assert "2 stored" in out
    rows = json.loads(cli.ok("results", "A1", "--json"))
    assert sorted(r["status"] for r in rows) == ["corrected", "replaced"]
    assert json.loads(cli.ok("flags", "--json")) == []  # the low value was corrected away
