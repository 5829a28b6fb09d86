"""Unmapped codes say how to map them; `quarantine retry --patient` (issue 10 item 9).

The reason printed for a lab's own code holds the exact config.toml line that maps it; pasting
that line (with an analyte name) into config.toml and retrying stores the result.
"""

import json

import pytest


def oru(obx: str, *, facility: str = "citylab", mrn: str = "A1") -> str:
    return (
        f"MSH|^~\\&|LAB|{facility}|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1\r"
        f"PID|1||{mrn}^^^CITY^MR\r"
        "OBR|1||ACC1|58410-2^CBC^LN|||20240212083000\r"
        f"{obx}\r"
    )


UCUM = "http://unitsofmeasure.org"
CSV_HEADER = "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession\n"


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")


def import_text(cli, tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return cli.ok("import", str(path))


def open_items(cli):
    return json.loads(cli.ok("quarantine", "--json"))


def map_in_config(tmp_path, reason, analyte):
    """What a person does with the reason: copy its line into config.toml, naming the analyte."""
    line = reason.split("add to config.toml: ", 1)[1].split(", then", 1)[0]
    table, mapping = line.split("] ", 1)
    (tmp_path / "config.toml").write_text(
        f"{table}]\n{mapping.replace('<analyte>', analyte)}\n", encoding="utf-8"
    )
    return line


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        (
            "plt.hl7",
            oru("OBX|1|NM|PLT^Platelets^L||210|K/uL|||||F"),
            '[codes.local.citylab] PLT = "<analyte>"',
        ),
        (
            "odd.hl7",
            oru("OBX|1|NM|PLT%^Platelets^L||210|K/uL|||||F", facility="CITY.LAB 2"),
            '[codes.local."CITY.LAB 2"] "PLT%" = "<analyte>"',
        ),
        (
            "plt.csv",
            CSV_HEADER + "A1,PLT,210,K/uL,2024-02-12,,,citylab,R1\n",
            '[codes.local.citylab] PLT = "<analyte>"',
        ),
    ],
)
def test_the_reason_gives_the_line_that_maps_the_code_and_a_retry_then_stores_it(
    cli, patient, tmp_path, name, text, line
):
    out = import_text(cli, tmp_path, text, name)
    assert "1 quarantined" in out
    [item] = open_items(cli)
    assert item["reason"].startswith("code not mapped: PLT")
    assert "not a monitored analyte" not in item["reason"]
    assert map_in_config(tmp_path, item["reason"], "platelets") == line
    assert f"{item['id']}: retried" in cli.ok("quarantine", "retry")
    assert [r["analyte"] for r in json.loads(cli.ok("results", "A1", "--json"))] == ["platelets"]


def test_an_unmapped_loinc_code_points_at_codes_loinc(cli, patient, tmp_path):
    import_text(cli, tmp_path, oru("OBX|1|NM|2161-8^Creat urine^LN||59|mg/dL|||||F"), "u.hl7")
    [item] = open_items(cli)
    assert '[codes.loinc] "2161-8" = "<analyte>"' in item["reason"]


def observation_without_subject() -> str:
    return json.dumps(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
            "effectiveDateTime": "2024-02-12T08:30:00Z",
            "valueQuantity": {"value": 210, "system": UCUM, "code": "10*3/uL"},
        }
    )


def test_retry_with_patient_files_an_item_that_names_none(cli, patient, tmp_path):
    import_text(cli, tmp_path, observation_without_subject(), "obs.json")
    [item] = open_items(cli)
    assert "no patient identifier" in item["reason"]
    assert cli("quarantine", "retry", "--patient", "A1").code == 2  # not for every item at once
    assert cli("quarantine", "retry", str(item["id"]), "--patient", "NOBODY").code == 2
    assert open_items(cli) == [item]
    out = cli.ok("quarantine", "retry", str(item["id"]), "--patient", "A1")
    assert f"{item['id']}: retried" in out
    assert [r["analyte"] for r in json.loads(cli.ok("results", "A1", "--json"))] == ["platelets"]


def test_retry_with_patient_never_overrides_the_mrn_a_message_names(cli, patient, tmp_path):
    cli.ok("patient", "add", "B2", "--name", "Bea Example")
    import_text(cli, tmp_path, oru("OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F", mrn="C3"), "c.hl7")
    [item] = open_items(cli)
    assert "unknown patient" in cli.ok("quarantine", "retry", str(item["id"]), "--patient", "B2")
    assert json.loads(cli.ok("results", "B2", "--json")) == []
