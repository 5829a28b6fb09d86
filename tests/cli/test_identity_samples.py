"""Positive patient identification with real public lab messages (tests/data/samples; issue 10
item 1). Each file's PID-5/PID-7 or FHIR Patient is compared with the record its MRN names."""

import json
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
MOLIS_TSH = SAMPLES / "hl7/elexis_Labtop_MOLIS_LA10430179_tsh-ft4.hl7"  # MUSTER^Patientin 19730627
MOLIS_CBC = SAMPLES / "hl7/elexis_Labtop_MOLIS_LA10430257_cbc-chem.hl7"  # the same patient
EPIC = SAMPLES / "hl7/trusted-intermediary_Epic_002_ORU_R01.hl7"  # placeholders: DOB "DOB"
OPEN_MEDICAL = SAMPLES / "hl7/elexis_OpenMedical_0025_standard.hl7"  # PatMuster^Jeanette 19800102
US_CORE = SAMPLES / "fhir/inferno_uscore_bundle_patient_client_test.json"  # USCore, 1940-03-29

MOLIS_CODES = """
[codes.local.MOLIS]
HB = "hemoglobin"
TC = "platelets"
TSHB = "tsh"
FT4 = "free_t4"

[codes.local.MUSTER-LAB]
THRO = "platelets"
TSH = "tsh"
"""


@pytest.fixture
def molis(tmp_path):
    (tmp_path / "config.toml").write_text(MOLIS_CODES)


def add(cli, mrn, name, dob=None):
    cli.ok("patient", "add", mrn, "--name", name, *(["--dob", dob] if dob else []))


def run(cli, path):
    return cli.ok("import", str(path))


def quarantine(cli):
    return json.loads(cli.ok("quarantine", "--json"))


def analytes(cli, mrn):
    return sorted({r["analyte"] for r in json.loads(cli.ok("results", mrn, "--json"))})


def test_the_molis_patient_is_filed_when_name_and_birth_date_agree(cli, molis):
    add(cli, "4567", "Patientin Muster", "1973-06-27")
    assert "2 stored" in run(cli, MOLIS_TSH)
    assert analytes(cli, "4567") == ["free_t4", "tsh"]


@pytest.mark.parametrize(
    ("name", "dob", "reason"),
    [
        ("Patientin Muster", "1973-06-28", "identity mismatch: date of birth differs"),
        ("Patientin Meier", "1973-06-27", "identity mismatch: family name differs"),
        ("Patientin Meier", None, "identity mismatch: family name differs"),
    ],
)
def test_another_person_under_the_molis_mrn_gets_none_of_the_results(cli, molis, name, dob, reason):
    """One MRN, two people: the clinic's 4567 is not the lab's 4567."""
    add(cli, "4567", name, dob)
    out = run(cli, MOLIS_CBC)
    assert "0 stored, 0 already there, 1 quarantined" in out
    [item] = quarantine(cli)
    assert item["reason"] == reason and item["source"] == "12273"
    assert analytes(cli, "4567") == []
    cli.ok("patient", "edit", "4567", "--name", "Patientin Muster", "--dob", "1973-06-27")
    out = cli.ok("quarantine", "retry", str(item["id"]))
    assert f"{item['id']}: retried (stored 2" in out and "quarantined again as" in out
    assert analytes(cli, "4567") == ["hemoglobin", "platelets"]
    parts = quarantine(cli)  # the codes nobody mapped, one item each, as a first import does
    assert parts and all(p["reason"].startswith("code not mapped") for p in parts)
    assert all("PID|1|1234|4567" in p["raw"] for p in parts)


def test_a_message_of_placeholders_is_not_filed_on_the_record_its_mrn_names(cli):
    add(cli, "MRN", "Real Person", "1970-01-01")
    assert "1 quarantined" in run(cli, EPIC)
    [item] = quarantine(cli)
    assert (
        item["reason"] == "identity not confirmed: the date of birth in the message is unreadable"
    )


def test_a_latin_1_file_with_one_word_family_name(cli, molis):
    add(cli, "000657", "Jeanette Patmuster", "1980-01-02")
    run(cli, OPEN_MEDICAL)
    assert not any("identity" in item["reason"] for item in quarantine(cli))
    assert {"platelets", "tsh"} <= set(analytes(cli, "000657"))


def test_a_us_core_bundle_by_patient_birth_date_and_family_name(cli):
    add(cli, "us-core-client-tests-patient", "Max US Core", "1940-03-29")  # family "USCore"
    run(cli, US_CORE)
    assert analytes(cli, "us-core-client-tests-patient") == ["bilirubin"]
    assert not any("identity" in item["reason"] for item in quarantine(cli))


def test_a_us_core_bundle_for_someone_born_on_another_day_is_quarantined_whole(cli):
    add(cli, "us-core-client-tests-patient", "Max USCore", "1941-03-29")
    assert "0 stored" in run(cli, US_CORE)
    identity = [item for item in quarantine(cli) if item["reason"].startswith("identity")]
    assert [item["reason"] for item in identity] == ["identity mismatch: date of birth differs"]
    entries = json.loads(identity[0]["raw"])["entry"]
    assert entries[0]["resource"]["resourceType"] == "Patient" and len(entries) > 2
