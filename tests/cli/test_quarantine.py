"""`monitor quarantine`, `quarantine retry` and `quarantine drop` (issue 5)."""

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import AuditEntry


def oru(mrn: str) -> str:
    return (
        "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1\r"
        f"PID|1||{mrn}^^^CITY^MR||Example^Bea\r"
        "OBR|1||ACC1|58410-2^CBC^LN|||20240212083000\r"
        "OBX|1|NM|777-3^Platelets^LN||210|K/uL|||||F\r"
    )


def import_text(cli, tmp_path, text, name="msg.hl7"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return cli.ok("import", str(path))


def results(cli, mrn):
    return json.loads(cli.ok("results", mrn, "--json"))


def test_unknown_mrn_is_quarantined_then_retried_after_adding_the_patient(cli, tmp_path):
    out = import_text(cli, tmp_path, oru("B2"))
    assert "1 quarantined" in out and "unknown patient" in out
    [item] = json.loads(cli.ok("quarantine", "--json"))
    assert set(item) >= {"id", "source", "received_at", "reason", "raw"}
    assert item["source"] == "CITYLAB" and item["raw"].startswith("MSH|")
    assert "unknown patient" in cli.ok("quarantine", "retry", str(item["id"]))
    assert json.loads(cli.ok("quarantine", "--json"))  # still unknown: stays open
    cli.ok("patient", "add", "B2", "--name", "Bea Example")
    out = cli.ok("quarantine", "retry")
    assert f"{item['id']}: retried" in out
    assert json.loads(cli.ok("quarantine", "--json")) == []
    assert [r["analyte"] for r in results(cli, "B2")] == ["platelets"]


def test_quarantine_drop_needs_a_reason_and_closes_the_item(cli, tmp_path):
    import_text(cli, tmp_path, "this is not a lab message", "junk.txt")
    [item] = json.loads(cli.ok("quarantine", "--json"))
    assert cli("quarantine", "drop", str(item["id"]), "--reason", " ").code == 2
    cli.ok("quarantine", "drop", str(item["id"]), "--reason", "stray file")
    assert json.loads(cli.ok("quarantine", "--json")) == []
    closed = json.loads(cli.ok("quarantine", "--all", "--json"))
    assert closed[0]["status"] == "dropped"
    assert cli("quarantine", "drop", str(item["id"]), "--reason", "again").code == 2
    assert cli("quarantine", "drop", "999", "--reason", "x").code == 2


def test_retry_and_drop_are_audited(cli, tmp_path, engine):
    import_text(cli, tmp_path, oru("B2"))
    import_text(cli, tmp_path, "not a lab message", "junk.txt")
    first, second = json.loads(cli.ok("quarantine", "--json"))
    cli.ok("patient", "add", "B2", "--name", "Bea Example")
    cli.ok("quarantine", "retry", str(first["id"]))
    cli.ok("quarantine", "drop", str(second["id"]), "--reason", "stray file")
    with Session(engine) as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "quarantine")
        ).all()
    assert sorted(actions) == ["quarantine.drop", "quarantine.retry"]
    assert "the quarantine is empty" in cli.ok("quarantine")
