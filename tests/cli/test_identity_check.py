"""Positive patient identification on import (issue 10 item 1), with crafted messages.

The record: MRN A1, "Ann Example", born 1984-05-02. A message that names A1 but another date of
birth or family name is quarantined whole (one item holding the whole message, nothing of it
stored); one that agrees, or carries neither, goes in. Every format, and a retry after the
record is corrected.
"""

import json
import logging

import pytest

PLATELETS = "OBX|1|NM|777-3^PLT^LN||210|K/uL|||||F"
HEMOGLOBIN = "OBX|2|NM|718-7^HGB^LN||13.5|g/dL|||||F"
UNREADABLE = "OBX|3|NM|1742-6^ALT^LN||12|U/L|||||Q"  # an unknown OBX-11 status


def oru(*obx: str, name: str = "Example^Ann", dob: str = "19840502", control: str = "C1") -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|{control}|P|2.5.1",
                f"PID|1||A1^^^CITY^MR||{name}||{dob}|F",
                f"OBR|1||ACC-{control}|58410-2^CBC^LN|||20240212083000",
                *(obx or (PLATELETS, HEMOGLOBIN)),
            ]
        )
        + "\r"
    )


def observation(oid: str, code: str, value: float, unit: str, mrn_reference: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": mrn_reference},
        "effectiveDateTime": "2024-02-12T08:30:00Z",
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
    }


def fhir_patient(pid: str, mrn: str, family: str | None, born: str | None) -> dict:
    patient = {"resourceType": "Patient", "id": pid, "identifier": [{"value": mrn}]}
    if family is not None:
        patient["name"] = [{"family": family, "given": ["Ann"]}]
    if born is not None:
        patient["birthDate"] = born
    return patient


def bundle(*patients: dict) -> str:
    """A collection of each Patient with a platelet and a hemoglobin result."""
    entries = []
    for patient in patients:
        ref = f"Patient/{patient['id']}"
        entries.append({"fullUrl": ref, "resource": patient})
        entries.append(
            {"resource": observation(f"{patient['id']}-p", "777-3", 210, "10*3/uL", ref)}
        )
        entries.append({"resource": observation(f"{patient['id']}-h", "718-7", 13.5, "g/dL", ref)})
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


CSV_HEADER = "mrn,analyte_or_loinc,value,unit,collected_on,ref_low,ref_high,source,accession"


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--dob", "1984-05-02", "--sex", "F")
    return "A1"


def import_text(cli, tmp_path, text, name="msg.hl7"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return cli.ok("import", str(path))


def open_items(cli):
    return json.loads(cli.ok("quarantine", "--json"))


def stored(cli, mrn="A1"):
    return sorted(r["analyte"] for r in json.loads(cli.ok("results", mrn, "--json")))


def config(tmp_path, check):
    (tmp_path / "config.toml").write_text(f'[import]\nidentity_check = "{check}"\n')


# HL7 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "reason"),
    [
        ({"dob": "19840503"}, "identity mismatch: date of birth differs"),
        ({"name": "Sample^Ann"}, "identity mismatch: family name differs"),
        (
            {"name": "Sample^Ann", "dob": "19900101"},
            "identity mismatch: date of birth and family name differ",
        ),
        ({"dob": "DOB"}, "identity not confirmed: the date of birth in the message is unreadable"),
    ],
)
def test_an_hl7_message_that_disagrees_with_the_record_is_quarantined_whole(
    cli, patient, tmp_path, pid, reason
):
    message = oru(PLATELETS, HEMOGLOBIN, UNREADABLE, **pid)
    out = import_text(cli, tmp_path, message)
    assert "0 stored, 0 already there, 1 quarantined" in out
    [item] = open_items(cli)
    assert item["reason"] == reason
    assert item["raw"] == message.rstrip("\r")  # the whole message, every OBX
    assert stored(cli) == []


@pytest.mark.parametrize(
    "pid",
    [
        {},
        {"name": "EXAMPLE^ANN", "dob": "198405021130+0100"},
        {"name": "Éxample^Ann", "dob": "198405"},
        {"name": "Smith^Ann~Example^Ann^^^^M"},  # a maiden name in another repetition
        {"name": "", "dob": ""},  # carries neither: the MRN alone, as before
        {"name": "^Ann", "dob": "1984"},
    ],
)
def test_an_hl7_message_that_agrees_or_carries_neither_goes_in(cli, patient, tmp_path, pid):
    assert "2 stored" in import_text(cli, tmp_path, oru(**pid))
    assert stored(cli) == ["hemoglobin", "platelets"]


def test_a_record_without_a_date_of_birth_is_compared_on_the_family_name_only(cli, tmp_path):
    cli.ok("patient", "add", "A1", "--name", "Jean-Luc de la Tour")
    assert "2 stored" in import_text(cli, tmp_path, oru(name="DE-LA-TOUR^JEAN LUC"))
    out = import_text(cli, tmp_path, oru(name="Tour-Martin^Jean", control="C2"), "b.hl7")
    assert "1 quarantined" in out and "family name differs" in out


def test_one_mismatched_message_in_a_file_leaves_the_other_messages_alone(cli, patient, tmp_path):
    text = oru(PLATELETS, control="C1") + oru(HEMOGLOBIN, dob="19700101", control="C2")
    out = import_text(cli, tmp_path, text)
    assert "1 stored, 0 already there, 1 quarantined" in out
    [item] = open_items(cli)
    assert "|C2|" in item["raw"] and "|C1|" not in item["raw"]
    assert stored(cli) == ["platelets"]


@pytest.mark.parametrize(
    ("check", "pid", "quarantined"),
    [
        ("dob", {"name": "Sample^Ann"}, False),
        ("dob", {"dob": "19840503"}, True),
        ("off", {"name": "Sample^Ann", "dob": "19900101"}, False),
        ("dob_and_family", {"name": "Sample^Ann"}, True),
    ],
)
def test_the_identity_check_setting(cli, patient, tmp_path, check, pid, quarantined):
    config(tmp_path, check)
    out = import_text(cli, tmp_path, oru(**pid))
    assert ("1 quarantined" in out) is quarantined
    assert ("2 stored" in out) is not quarantined


def test_a_bad_identity_check_setting_is_a_config_error(cli, patient, tmp_path):
    config(tmp_path, "name_only")
    result = cli("import", str(tmp_path))
    assert result.code == 2 and "import.identity_check" in result.err


def test_the_values_never_reach_the_logs(cli, patient, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    import_text(cli, tmp_path, oru(name="Zyxwvut^Ann", dob="19111111"))
    assert "Zyxwvut" not in caplog.text and "1911" not in caplog.text


# Retry ----------------------------------------------------------------------------------------


def test_a_retry_after_correcting_the_record_stores_the_whole_message(cli, patient, tmp_path):
    import_text(cli, tmp_path, oru(dob="19840520"))
    [item] = open_items(cli)
    out = cli.ok("quarantine", "retry", str(item["id"]))
    assert "open: identity mismatch: date of birth differs" in out  # the record is unchanged
    cli.ok("patient", "edit", "A1", "--dob", "1984-05-20")
    assert f"{item['id']}: retried (stored 2" in cli.ok("quarantine", "retry")
    assert stored(cli) == ["hemoglobin", "platelets"]
    assert json.loads(cli.ok("patient", "show", "A1", "--json"))["dob"] == "1984-05-20"


def test_patient_edit_checks_its_input(cli, patient):
    assert cli("patient", "edit", "A1").code == 2
    assert cli("patient", "edit", "A1", "--dob", "2999-01-01").code == 2
    assert cli("patient", "edit", "A1", "--name", " ").code == 2
    assert cli("patient", "edit", "NOBODY", "--name", "X Y").code == 2
    cli.ok("patient", "edit", "A1", "--name", "Ann Sample")
    assert json.loads(cli.ok("patient", "show", "A1", "--json"))["name"] == "Ann Sample"
    audit = cli.ok("audit", "--json")
    assert "patient.edit" in audit


# FHIR -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "born", "reason"),
    [
        ("Example", "1984-05-03", "identity mismatch: date of birth differs"),
        ("Sample", "1984-05-02", "identity mismatch: family name differs"),
        ("Sample", None, "identity mismatch: family name differs"),
        (None, "1983", "identity mismatch: date of birth differs"),
    ],
)
def test_a_fhir_patient_that_disagrees_is_quarantined_with_all_its_observations(
    cli, patient, tmp_path, family, born, reason
):
    out = import_text(cli, tmp_path, bundle(fhir_patient("p1", "A1", family, born)), "b.json")
    assert "0 stored, 0 already there, 1 quarantined" in out
    [item] = open_items(cli)
    assert item["reason"] == reason
    raw = json.loads(item["raw"])
    kinds = [entry["resource"]["resourceType"] for entry in raw["entry"]]
    assert kinds == ["Patient", "Observation", "Observation"]
    fixed = ["--name", f"Ann {family}"] if family else []
    fixed += ["--dob", born if len(born) == 10 else f"{born}-05-02"] if born else []
    cli.ok("patient", "edit", "A1", *fixed)  # the record was wrong: corrected, then retried
    assert "retried (stored 2" in cli.ok("quarantine", "retry")


@pytest.mark.parametrize(("family", "born"), [("EXAMPLE", "1984-05-02"), (None, None), ("", "")])
def test_a_fhir_patient_that_agrees_or_says_nothing_goes_in(cli, patient, tmp_path, family, born):
    patient_resource = fhir_patient("p1", "A1", family, born)
    assert "2 stored" in import_text(cli, tmp_path, bundle(patient_resource), "b.json")


def test_a_fhir_file_with_two_patients_quarantines_only_the_one_that_disagrees(
    cli, patient, tmp_path
):
    cli.ok("patient", "add", "B2", "--name", "Bea Other", "--dob", "1990-01-01")
    two = bundle(
        fhir_patient("p1", "A1", "Example", "1984-05-02"),
        fhir_patient("p2", "B2", "Other", "1991-01-01"),
    )
    out = import_text(cli, tmp_path, two, "two.json")
    assert "2 stored, 0 already there, 1 quarantined" in out
    assert stored(cli, "A1") == ["hemoglobin", "platelets"] and stored(cli, "B2") == []


def test_an_observation_naming_its_patient_by_identifier_only_is_taken_on_it(
    cli, patient, tmp_path
):
    obs = observation("o1", "777-3", 210, "10*3/uL", "Patient/elsewhere")
    obs["subject"] = {"identifier": {"value": "A1"}}
    assert "1 stored" in import_text(cli, tmp_path, json.dumps(obs), "o.json")


# CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "cells"),
    [
        ("", ""),
        (",dob,family_name", ",1984-05-02,EXAMPLE"),
        (",family_name,dob", ",example,1984-05-02"),
        (",dob", ",1984-05-02"),
        (",family_name", ",Example"),
        (",dob,family_name", ",,"),
    ],
)
def test_csv_headers_with_and_without_the_identity_columns(cli, patient, tmp_path, extra, cells):
    text = f"{CSV_HEADER}{extra}\nA1,platelets,210,K/uL,2024-02-12,,,citylab,R1{cells}\n"
    assert "1 stored" in import_text(cli, tmp_path, text, "r.csv")


@pytest.mark.parametrize("extra", [",dob,dob", ",birth_date", ",family_name,dob,extra"])
def test_any_other_csv_header_is_refused_whole(cli, patient, tmp_path, extra):
    text = f"{CSV_HEADER}{extra}\nA1,platelets,210,K/uL,2024-02-12,,,citylab,R1,x\n"
    out = import_text(cli, tmp_path, text, "r.csv")
    assert "CSV header must be" in out and "dob and/or family_name" in out


def test_a_csv_row_that_disagrees_is_quarantined_and_the_other_rows_go_in(cli, patient, tmp_path):
    text = "\n".join(
        [
            f"{CSV_HEADER},dob,family_name",
            "A1,platelets,210,K/uL,2024-02-12,,,citylab,R1,1984-05-02,Example",
            "A1,hemoglobin,13.5,g/dL,2024-02-12,,,citylab,R2,1984-05-09,Example",
            "A1,wbc,6.1,10*9/L,2024-02-12,,,citylab,R3,1984-05-02,Sample",
        ]
    )
    out = import_text(cli, tmp_path, text + "\n", "r.csv")
    assert "1 stored, 0 already there, 2 quarantined" in out
    reasons = sorted(item["reason"] for item in open_items(cli))
    assert reasons == [
        "identity mismatch: date of birth differs",
        "identity mismatch: family name differs",
    ]
    assert all(
        item["raw"].startswith(f"{CSV_HEADER},dob,family_name\n") for item in open_items(cli)
    )
    cli.ok("patient", "edit", "A1", "--dob", "1984-05-09")
    out = cli.ok("quarantine", "retry")
    assert "retried" in out and "date of birth and family name differ" in out


def test_the_patient_named_by_the_patient_option_is_checked_too(cli, patient, tmp_path):
    """A file whose Patient has no identifier goes to `--patient`, but only if it is them."""
    for family, name in (("Sample", "s.json"), ("Example", "e.json")):
        anonymous = fhir_patient("p1", "unused", family, "1984-05-02")
        del anonymous["identifier"]
        path = tmp_path / name
        path.write_text(bundle(anonymous))
        out = cli.ok("import", str(path), "--patient", "A1")
        assert ("identity mismatch: family name differs" in out) is (family == "Sample")
    assert stored(cli) == ["hemoglobin", "platelets"]
