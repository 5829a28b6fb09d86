"""`monitor token add|list|revoke` and `monitor patient calendar` through the real command."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import Engine, func, select

from monitor.store.db import unit_of_work
from monitor.store.models import ApiToken, AuditEntry, Patient
from tests.conftest import Cli


def _count(engine: Engine, model: type) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_token_add_prints_it_once_and_keeps_only_its_hash(cli: Cli, engine: Engine) -> None:
    result = cli("token", "add", "epr", "--scope", "fhir:read", "--by", "it-desk")
    assert result.code == 0, result.err
    token = result.out.strip()
    assert len(token) >= 40 and "\n" not in token
    with unit_of_work(engine) as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (row.name, row.scopes, row.created_by) == ("epr", "fhir:read", "it-desk")
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "token.add")).one()
        assert audit.actor == "it-desk" and token not in json.dumps(audit.after)
    listed = cli.ok("token", "list")
    assert "epr" in listed and "active" in listed and token not in listed
    shown = json.loads(cli.ok("token", "list", "--json"))
    assert shown[0]["name"] == "epr" and shown[0]["revoked_at"] is None
    assert token not in json.dumps(shown)


def test_token_revoke_is_audited_and_said_in_the_list(cli: Cli, engine: Engine) -> None:
    cli.ok("token", "add", "epr", "--scope", "fhir:read")
    assert cli("token", "revoke", "epr").code == 0
    assert json.loads(cli.ok("token", "list", "--json"))[0]["revoked_at"] is not None
    again = cli("token", "revoke", "epr")
    assert again.code == 2 and "already revoked" in again.err
    unknown = cli("token", "revoke", "nobody")
    assert unknown.code == 2 and "no token named 'nobody'" in unknown.err
    with unit_of_work(engine) as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["token.add", "token.revoke"]


def test_bad_token_input_stores_nothing(cli: Cli, engine: Engine) -> None:
    cli.ok("token", "add", "epr", "--scope", "fhir:read")
    for args, words in (
        (["token", "add", "other", "--scope", "fhir:write"], "--scope must be one of fhir:read"),
        (["token", "add", "epr", "--scope", "fhir:read"], "exists already"),
        (["token", "add", "two words", "--scope", "fhir:read"], "without spaces"),
    ):
        result = cli(*args)
        assert result.code == 2 and words in result.err, result.err
    missing = cli("token", "add", "x")
    assert missing.code == 2
    assert _count(engine, ApiToken) == 1
    assert _count(engine, AuditEntry) == 1


def test_patient_calendar_prints_a_url_and_revokes_it(cli: Cli, engine: Engine) -> None:
    cli.ok("patient", "add", "C1", "--name", "Cal Example")
    url = cli.ok("patient", "calendar", "C1").strip()
    assert url.startswith("http://127.0.0.1:8080/calendar/") and url.endswith(".ics")
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    with unit_of_work(engine) as session:
        stored = session.scalar(select(Patient.calendar_token_hash))
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert cli.ok("patient", "calendar", "C1").strip() != url  # a new one replaces it
    assert cli("patient", "calendar", "C1", "--revoke").code == 0
    with unit_of_work(engine) as session:
        assert session.scalar(select(Patient.calendar_token_hash)) is None
    again = cli("patient", "calendar", "C1", "--revoke")
    assert again.code == 2 and "no calendar link" in again.err
    unknown = cli("patient", "calendar", "NOPE")
    assert unknown.code == 2 and "unknown MRN" in unknown.err
