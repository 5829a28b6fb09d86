"""FHIR R4 JSON built in tests: reports with contained results, amended and withdrawn results."""

import json

import pytest


def observation(value, *, status="final", code="777-3", unit="10*3/uL", oid="obs-1"):
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"identifier": {"value": "A1"}},
        "effectiveDateTime": "2024-02-12T08:30:00+01:00",
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
        "referenceRange": [{"low": {"value": 150}, "high": {"value": 400}}],
    }


@pytest.fixture
def patient(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    return "A1"


def run_import(cli, tmp_path, document, name="obs.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return cli.ok("import", str(path))


def results(cli):
    return json.loads(cli.ok("results", "A1", "--json"))


def test_a_report_with_contained_results_and_a_time_of_its_own(cli, patient, tmp_path):
    member = observation(90, oid="p")
    del member["effectiveDateTime"]
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "identifier": [{"value": "REP-1"}],
        "effectiveDateTime": "2024-02-12",
        "contained": [member],
        "result": [{"reference": "#p"}],
    }
    assert "1 stored" in run_import(cli, tmp_path, report)
    [row] = results(cli)
    assert (row["canonical_value"], row["collected_on"], row["accession"]) == (
        90.0,
        "2024-02-12",
        "REP-1",
    )


def test_an_amended_observation_replaces_the_earlier_one_and_clears_its_flag(
    cli, patient, tmp_path
):
    run_import(cli, tmp_path, observation(90))
    assert len(json.loads(cli.ok("flags", "--json"))) == 1
    out = run_import(cli, tmp_path, observation(210, status="amended"), "amended.json")
    assert "1 stored" in out
    assert sorted(r["status"] for r in results(cli)) == ["corrected", "replaced"]
    assert json.loads(cli.ok("flags", "--json")) == []


def test_entered_in_error_keeps_history(cli, patient, tmp_path):
    run_import(cli, tmp_path, observation(210))
    run_import(cli, tmp_path, observation(210, status="entered-in-error"), "eie.json")
    assert [r["status"] for r in results(cli)] == ["entered-in-error"]


def test_a_bundle_with_one_bad_observation_keeps_the_good_one(cli, patient, tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": observation(210)},
            {"resource": observation(13.5, code="718-7", unit="g/mL", oid="obs-2")},
        ],
    }
    out = run_import(cli, tmp_path, bundle)
    assert "1 stored, 0 already there, 1 quarantined" in out and "unknown unit 'g/mL'" in out
    [item] = json.loads(cli.ok("quarantine", "--json"))
    assert json.loads(item["raw"])["resourceType"] == "Bundle"
