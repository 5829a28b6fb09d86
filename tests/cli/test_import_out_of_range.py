"""Dates a calendar cannot hold (issue 11 item 5): quarantined with a reason, never a crash.

A FHIR `effectiveDateTime` of `0001-01-01T00:00:00+14:00` or an HL7 OBR-7 of
`99991231235959-1200` falls outside the years 1-9999 once moved to UTC. Such a file must not stop
the import of a folder: it goes to the quarantine and the next file is imported.
"""

import json

import pytest

GOOD_HL7 = (
    "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|G1|P|2.5.1\r"
    "PID|1||A1^^^CITY^MR\r"
    "OBR|1||ACC-G1|58410-2^CBC^LN|||20240212083000\r"
    "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F\r"
)


def hl7_collected_at(when: str, control: str = "B1") -> str:
    return (
        f"MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|{control}|P|2.5.1\r"
        "PID|1||A1^^^CITY^MR\r"
        f"OBR|1||ACC-{control}|58410-2^CBC^LN|||{when}\r"
        "OBX|1|NM|718-7^HGB^LN||13.5|g/dL|||||F\r"
    )


def fhir_collected_at(when: str) -> str:
    return json.dumps(
        {
            "resourceType": "Observation",
            "id": "obs-far",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            "subject": {"identifier": {"value": "A1"}},
            "effectiveDateTime": when,
            "valueQuantity": {"value": 13.5, "system": "http://unitsofmeasure.org", "code": "g/dL"},
        }
    )


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a-fhir.json", fhir_collected_at("0001-01-01T00:00:00+14:00")),
        ("a-fhir-late.json", fhir_collected_at("9999-12-31T23:59:59-12:00")),
        ("a-hl7.hl7", hl7_collected_at("99991231235959-1200")),
        ("a-hl7-early.hl7", hl7_collected_at("00010101000000+1400")),
    ],
)
def test_a_folder_with_an_out_of_range_time_imports_the_other_files(
    cli, patient, tmp_path, name, text
):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    (folder / "b-good.hl7").write_text(GOOD_HL7, encoding="utf-8")
    result = cli("import", str(folder))
    assert result.code == 0, result.err
    assert "Traceback" not in result.out + result.err
    assert "total: 1 stored, 0 already there, 1 quarantined" in result.out
    [item] = json.loads(cli.ok("quarantine", "--json"))
    assert "out of range" in item["reason"]
    assert [r["analyte"] for r in json.loads(cli.ok("results", "A1", "--json"))] == ["platelets"]
