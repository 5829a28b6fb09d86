"""The FHIR R4 API through the app (TestClient): every resource it returns validated with
`fhir.resources` (R4B models), tokens refused as they should be, paging, searches, stable ids.
A real `monitor serve` process is exercised in test_fhir_process.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from monitor.config import Config
from monitor.domain.vocabulary import FlagStatus, ResultStatus
from monitor.services.access.tokens import hash_token, revoke_token
from monitor.services.results.intake import record_results
from monitor.services.results.recording import ResultIn
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.store.models import ApiToken, AuditEntry, Flag, Patient, Result, Slot, Treatment
from tests.web.clinic import NOW, TODAY, XSS_NAME, Clinic
from tests.web.fhir_helpers import MADE_AT, bearer, make_token, validated

FHIR_JSON = "application/fhir+json"
KINDS = ("Patient", "CarePlan", "ServiceRequest", "Observation", "Flag")


@pytest.fixture
def token(engine: Engine, clinic: Clinic) -> str:
    return make_token(engine)


def get(client: TestClient, path: str, token: str, **params: Any) -> dict[str, Any]:
    """The answer, validated; `params` (none: the path's own query string stays as it is)."""
    response = client.get(path, params=params or None, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON
    return validated(response.json())


def patient_id(engine: Engine, mrn: str) -> int:
    with unit_of_work(engine) as session:
        found = session.scalar(select(Patient.id).where(Patient.mrn == mrn))
    assert found is not None
    return found


def every_page(client: TestClient, path: str, token: str, **params: Any) -> list[dict[str, Any]]:
    """All entries' resources, following `next` links until there are none."""
    bundle = get(client, path, token, **params)
    found = [entry["resource"] for entry in bundle["entry"]]
    while (next_url := _link(bundle, "next")) is not None:
        bundle = get(client, next_url.removeprefix("http://testserver"), token)
        found += [entry["resource"] for entry in bundle["entry"]]
    return found


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((ln["url"] for ln in bundle["link"] if ln["relation"] == relation), None)


# ------------------------------------------------------------------ resources, validated


def test_metadata_needs_no_token_and_is_a_valid_capability_statement(client: TestClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    body = validated(response.json())
    assert body["fhirVersion"] == "4.0.1"
    served = {r["type"] for r in body["rest"][0]["resource"]}
    assert served == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_resource_of_every_kind_validates(client: TestClient, token: str, kind: str) -> None:
    resources = every_page(client, f"/fhir/{kind}", token, _count="500")
    assert resources, f"no {kind} served"
    assert {resource["resourceType"] for resource in resources} == {kind}
    for resource in resources[:3] + resources[-3:]:
        read = get(client, f"/fhir/{kind}/{resource['id']}", token)
        assert read == resource  # a read gives what the search gave


def test_the_counts_are_the_stored_rows(
    client: TestClient, token: str, engine: Engine, clinic: Clinic
) -> None:
    with unit_of_work(engine) as session:
        slots = session.scalar(select(func.count()).select_from(Slot))
        treatments = session.scalar(select(func.count()).select_from(Treatment))
        served = [ResultStatus.FINAL, ResultStatus.CORRECTED, ResultStatus.ENTERED_IN_ERROR]
        results = session.scalar(
            select(func.count()).select_from(Result).where(Result.status.in_(served))
        )
        flags = session.scalar(
            select(func.count()).select_from(Flag).where(Flag.status == FlagStatus.OPEN)
        )
    totals = {kind: get(client, f"/fhir/{kind}", token)["total"] for kind in KINDS}
    assert totals == {
        "Patient": 4,
        "CarePlan": treatments,
        "ServiceRequest": slots,
        "Observation": results,
        "Flag": flags,
    }
    assert flags and flags > 0


def test_patient_by_identifier_and_its_plan_tasks_results_and_flag(
    client: TestClient, token: str, engine: Engine, clinic: Clinic
) -> None:
    found = get(client, "/fhir/Patient", token, identifier=f"urn:monitor:mrn|{clinic.alex}")
    assert found["total"] == 1
    alex = found["entry"][0]["resource"]
    assert alex["identifier"] == [{"system": "urn:monitor:mrn", "value": clinic.alex}]
    assert alex["name"] == [{"text": "Alex Rivers"}]
    assert get(client, "/fhir/Patient", token, identifier="NOPE")["total"] == 0

    ref = f"Patient/{alex['id']}"
    plans = get(client, "/fhir/CarePlan", token, patient=ref)["entry"]
    assert len(plans) == 1
    plan = plans[0]["resource"]
    assert plan["status"] == "active" and plan["subject"]["reference"] == ref
    requests = every_page(client, "/fhir/ServiceRequest", token, patient=ref)
    activity = [a["reference"]["reference"] for a in plan["activity"]]
    assert activity == [f"ServiceRequest/{r['id']}" for r in requests]
    assert all(r["basedOn"] == [{"reference": f"CarePlan/{plan['id']}"}] for r in requests)

    flags = get(client, "/fhir/Flag", token, patient=ref)["entry"]
    details = {f["resource"]["extension"][0]["valueReference"]["reference"] for f in flags}
    assert len(details) == 1  # the rules that fired on the platelet count of 80
    (detail,) = details
    observation = get(client, f"/fhir/{detail}", token)
    assert observation["code"]["coding"][0] == {"system": "http://loinc.org", "code": "777-3"}
    assert observation["valueQuantity"] == {
        "value": 80.0,
        "unit": "10^9/L",
        "system": "http://unitsofmeasure.org",
        "code": "10*9/L",
    }
    assert observation["subject"]["reference"] == ref


def test_a_service_request_carries_its_window_and_its_tests(
    client: TestClient, token: str, engine: Engine, clinic: Clinic
) -> None:
    pid = patient_id(engine, clinic.alex)
    with unit_of_work(engine) as session:
        slot = session.scalars(
            select(Slot).where(Slot.patient_id == pid, Slot.panel == "cbc").order_by(Slot.due_on)
        ).first()
        assert slot is not None
        window = (slot.window_start.isoformat(), slot.window_end.isoformat())
        due = slot.due_on
    requests = every_page(client, "/fhir/ServiceRequest", token, patient=str(pid))
    (mine,) = [r for r in requests if r["identifier"][0]["value"] == f"alemtuzumab/cbc/{due}"]
    assert (mine["occurrencePeriod"]["start"], mine["occurrencePeriod"]["end"]) == window
    tests = {c["coding"][0]["code"] for c in mine["orderDetail"]}
    assert {"777-3", "751-8"} <= tests  # platelets and neutrophils are in the blood count


# ------------------------------------------------------------------ tokens


def _assert_leaks_nothing(response: Any, *secrets: str) -> None:
    text = response.text
    body = validated(response.json())
    assert body["resourceType"] == "OperationOutcome"
    for secret in (*secrets, "A100", "Alex", "Rivers", "alex@", XSS_NAME, "1985"):
        assert secret not in text
    assert "set-cookie" not in response.headers


def _audit_rows(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@pytest.mark.parametrize("kind", KINDS)
def test_no_token_is_401_with_a_bearer_challenge(
    client: TestClient, engine: Engine, clinic: Clinic, kind: str
) -> None:
    before = _audit_rows(engine)
    for path in (f"/fhir/{kind}", f"/fhir/{kind}/1"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        _assert_leaks_nothing(response)
    assert _audit_rows(engine) == before


def test_a_wrong_token_and_a_revoked_one_are_401_in_the_same_words(
    client: TestClient, engine: Engine, token: str
) -> None:
    wrong = ("y" if token[0] == "x" else "x") + token[1:]
    refused_wrong = client.get("/fhir/Patient", headers=bearer(wrong))
    with unit_of_work(engine) as session:
        revoke_token(session, name="epr", actor="test", now=NOW)
    refused_revoked = client.get("/fhir/Patient", headers=bearer(token))
    basic = client.get("/fhir/Patient", headers={"Authorization": f"Basic {token}"})
    for response in (refused_wrong, refused_revoked):
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        _assert_leaks_nothing(response, token, wrong)
    assert refused_wrong.json() == refused_revoked.json()
    assert basic.status_code == 401
    _assert_leaks_nothing(basic, token)


def test_a_token_without_the_scope_is_403(client: TestClient, engine: Engine, token: str) -> None:
    # A token made for another API (a scope this version does not offer yet), stored as
    # `token add` stores one.
    other = "reports-token-" + "y" * 30
    with unit_of_work(engine) as session:
        session.add(
            ApiToken(
                name="reports",
                token_hash=hash_token(other),
                scopes="reports:read",
                created_at=MADE_AT,
                created_by="test",
            )
        )
    response = client.get("/fhir/Observation", headers=bearer(other))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    _assert_leaks_nothing(response, other)


def test_an_answered_request_is_audited_and_the_token_marked_used(
    client: TestClient, engine: Engine, token: str, clinic: Clinic
) -> None:
    pid = patient_id(engine, clinic.alex)
    get(client, "/fhir/Observation", token, patient=str(pid), _count="5")
    with unit_of_work(engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "fhir.read")).one()
        used = session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "epr"))
        assert entry.actor == "api:epr"
        assert entry.patient_id == pid
        assert entry.after == {
            "resource": "Observation",
            "params": ["_count", "patient"],
            "returned": 5,
            "patients": [pid],
        }
        assert token not in json.dumps(entry.after)
    assert used is not None


# ------------------------------------------------------------------ paging and searches


def test_paging_walks_every_match_once(client: TestClient, token: str, engine: Engine) -> None:
    first = get(client, "/fhir/ServiceRequest", token, _count="7")
    assert len(first["entry"]) == 7
    assert _link(first, "previous") is None
    assert "_offset=0" in (_link(first, "self") or "")
    walked = every_page(client, "/fhir/ServiceRequest", token, _count="7")
    ids = [r["id"] for r in walked]
    assert len(ids) == first["total"] == len(set(ids))
    everything = get(client, "/fhir/ServiceRequest", token, _count="500")
    assert ids[:500] == [e["resource"]["id"] for e in everything["entry"]]
    last = get(client, "/fhir/ServiceRequest", token, _count="7", _offset=str(len(ids) - 1))
    assert len(last["entry"]) == 1 and _link(last, "next") is None


def test_search_by_status(client: TestClient, token: str, engine: Engine, clinic: Clinic) -> None:
    pid = patient_id(engine, clinic.alex)
    every = every_page(client, "/fhir/ServiceRequest", token, patient=str(pid), _count="500")
    statuses = {r["status"] for r in every}
    assert statuses == {"active", "completed", "revoked"}  # done, due/upcoming, missed
    for status in ("active", "completed", "revoked"):
        found = every_page(client, "/fhir/ServiceRequest", token, patient=str(pid), status=status)
        assert found and {r["status"] for r in found} == {status}
        assert len(found) == sum(1 for r in every if r["status"] == status)
    both = every_page(
        client, "/fhir/ServiceRequest", token, patient=str(pid), status="active,completed"
    )
    assert len(both) == sum(1 for r in every if r["status"] in ("active", "completed"))


def test_a_waived_slot_is_revoked_and_its_id_survives_the_rebuild(
    client: TestClient, token: str, engine: Engine, config: Config, clinic: Clinic
) -> None:
    pid = patient_id(engine, clinic.sam)
    before = every_page(client, "/fhir/ServiceRequest", token, patient=str(pid))
    active = [r for r in before if r["status"] == "active"]
    target = active[0]
    protocol, panel, due = target["identifier"][0]["value"].split("/")
    assert protocol == "alemtuzumab"
    with unit_of_work(engine, config.catalogue) as session:
        waive_slot(
            session,
            mrn=clinic.sam,
            panel=panel,
            protocol=protocol,
            due_on=TODAY.fromisoformat(due),
            by="nina",
            reason="done elsewhere",
            now=NOW + timedelta(hours=1),
        )
    after = every_page(client, "/fhir/ServiceRequest", token, patient=str(pid))
    assert [r["id"] for r in after] == [r["id"] for r in before]  # the rows were rebuilt
    (waived,) = [r for r in after if r["id"] == target["id"]]
    assert waived["status"] == "revoked"
    assert waived["meta"]["tag"][0]["code"] == "waived"
    revoked = get(client, "/fhir/ServiceRequest", token, patient=str(pid), status="revoked")
    assert target["id"] in [e["resource"]["id"] for e in revoked["entry"]]


def test_search_by_last_updated(
    client: TestClient, token: str, engine: Engine, config: Config, clinic: Clinic
) -> None:
    later = NOW + timedelta(days=1)
    pid = patient_id(engine, clinic.robin)
    with unit_of_work(engine, config.catalogue) as session:
        batch = [ResultIn(clinic.robin, "tsh", "2.1", "mIU/L", TODAY)]
        record_results(session, batch, today=TODAY, now=later, config=config)
    mark = "gt" + NOW.isoformat().replace("+00:00", "Z")
    new = get(client, "/fhir/Observation", token, _lastUpdated=mark)
    assert [e["resource"]["code"]["text"] for e in new["entry"]] == ["tsh"]
    assert new["entry"][0]["resource"]["meta"]["lastUpdated"] == "2026-06-16T09:00:00Z"
    old = get(client, "/fhir/Observation", token, _lastUpdated="le2026-06-15")
    assert old["total"] == get(client, "/fhir/Observation", token)["total"] - 1
    # The patient's record changed, so their schedule and plan did; no one else's.
    changed = every_page(client, "/fhir/ServiceRequest", token, _lastUpdated=mark)
    assert changed and {r["subject"]["reference"] for r in changed} == {f"Patient/{pid}"}
    patients = get(client, "/fhir/Patient", token, _lastUpdated=mark)
    assert [e["resource"]["id"] for e in patients["entry"]] == [str(pid)]
    window = get(client, "/fhir/Patient", token, _lastUpdated=["ge2026-06-16", "lt2026-06-17"])
    assert window["total"] == 1
    assert get(client, "/fhir/Patient", token, _lastUpdated="gt2026-06-16")["total"] == 0


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/fhir/Observation", {"code": "777-3"}, 400),
        ("/fhir/Observation", {"status": "bogus"}, 400),
        ("/fhir/Observation", {"_count": "0"}, 400),
        ("/fhir/Observation", {"_count": "100000"}, 400),
        ("/fhir/Observation", {"_lastUpdated": "yesterday"}, 400),
        ("/fhir/Observation", {"patient": "A100"}, 400),
        ("/fhir/Patient", {"identifier": "http://other|A100"}, 400),
        ("/fhir/Observation", {"_format": "xml"}, 406),
        ("/fhir/Medication", {}, 404),
        ("/fhir/Observation/999999", {}, 404),
        ("/fhir/ServiceRequest/1-nothexnothexnoth", {}, 404),
    ],
)
def test_bad_requests_are_operation_outcomes(
    client: TestClient, token: str, path: str, params: dict[str, str], status: int
) -> None:
    response = client.get(path, params=params, headers=bearer(token))
    assert response.status_code == status
    assert response.headers["content-type"] == FHIR_JSON
    _assert_leaks_nothing(response, token)


def test_paging_across_chunks_of_patients(
    client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = every_page(client, "/fhir/Observation", token, _count="40")
    monkeypatch.setattr("monitor.services.fhir.search.PATIENTS_PER_CHUNK", 1)
    first = get(client, "/fhir/Observation", token, _count="40")
    assert "total" not in first  # it stopped reading after the page: not counted
    assert _link(first, "next") is not None
    chunked = every_page(client, "/fhir/Observation", token, _count="40")
    assert [r["id"] for r in chunked] == [r["id"] for r in whole]
    last = get(client, "/fhir/Observation", token, _count="40", _offset=str(len(whole) - 5))
    assert last["total"] == len(whole) and _link(last, "next") is None
