"""`monitor outbox` and `monitor send` through the real command (SPEC §5, §7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from monitor.services.outbox import queue_email, record_skipped
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SPEC_KEYS = {"id", "message", "to", "subject", "status", "dedupe_key"}


def queue(engine: Engine, key: str, *, at: datetime = NOW, subject: str = "Reminder") -> int:
    with unit_of_work(engine) as session:
        row = queue_email(
            session,
            message="patient-tests-due",
            recipient="pat@example.org",
            subject=subject,
            body_text="Your tests are due.",
            body_html="<p>Your tests are due.</p>",
            calendar=None,
            dedupe_key=key,
            now=at,
            mail_domain="clinic.example",
        )
        assert row is not None
        return row.id


def skip(engine: Engine, key: str) -> int:
    with unit_of_work(engine) as session:
        row = record_skipped(
            session,
            message="patient-tests-due",
            recipient="",
            reason="no email address",
            dedupe_key=key,
            now=NOW + timedelta(minutes=5),
        )
        assert row is not None
        return row.id


def write_config(text: str) -> None:
    Path("config.toml").write_text(text, encoding="utf-8")


def test_outbox_json_lists_rows_newest_first_with_the_spec_keys(cli, engine: Engine) -> None:
    older = queue(engine, "k1", subject="older")
    newer = queue(engine, "k2", at=NOW + timedelta(minutes=1), subject="newer")
    skipped = skip(engine, "k3")

    data = json.loads(cli.ok("outbox", "--json"))

    assert [item["id"] for item in data] == [skipped, newer, older]
    assert all(SPEC_KEYS <= set(item) for item in data)
    assert data[2] == {
        "id": older,
        "message": "patient-tests-due",
        "to": "pat@example.org",
        "subject": "older",
        "status": "pending",
        "dedupe_key": "k1",
        "reason": None,
        "attempts": 0,
        "last_error": None,
        "created_at": "2026-11-27T07:00:00+00:00",
        "sent_at": None,
    }
    assert (data[0]["status"], data[0]["reason"]) == ("skipped", "no email address")


def test_outbox_table_and_an_empty_outbox(
    cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert "the outbox is empty" in cli.ok("outbox")
    assert cli.ok("outbox", "--json").strip() == "[]"

    queue(engine, "k1")
    skip(engine, "k2")
    out = cli.ok("outbox")
    assert "patient-tests-due" in out and "no email address" in out
    assert "2 message(s)" in out


def test_send_writes_eml_files_with_the_default_file_transport(cli, engine: Engine) -> None:
    first, second = queue(engine, "k1"), queue(engine, "k2")
    skip(engine, "k3")

    out = cli.ok("send")

    assert "sent 2, to retry later 0, failed 0" in out
    files = sorted(Path("outbox-mail").glob("*.eml"))
    assert len(files) == 2
    parser = BytesParser(policy=policy.default)
    assert all(parser.parsebytes(f.read_bytes())["Subject"] == "Reminder" for f in files)
    data = {item["id"]: item for item in json.loads(cli.ok("outbox", "--json"))}
    assert data[first]["status"] == data[second]["status"] == "sent"
    assert data[first]["attempts"] == 1 and data[first]["sent_at"] is not None

    assert "sent 0, to retry later 0, failed 0" in cli.ok("send")
    assert len(list(Path("outbox-mail").glob("*.eml"))) == 2


def test_send_uses_the_configured_sender_and_transport(cli, engine: Engine) -> None:
    write_config('[email]\ntransport = "console"\nfrom = "Clinic <monitor@clinic.example>"\n')
    queue(engine, "k1")

    out = cli.ok("send")

    assert "From: Clinic <monitor@clinic.example>" in out
    assert "Your tests are due." in out
    assert "<p>" not in out
    assert "sent 1, to retry later 0, failed 0" in out


def test_send_leaves_rows_waiting_for_their_retry_time(cli, engine: Engine) -> None:
    queue(engine, "k1")
    with unit_of_work(engine) as session:
        session.execute(
            update(OutboxMessage).values(next_attempt_at=datetime(2999, 1, 1, tzinfo=UTC))
        )

    assert "sent 0, to retry later 0, failed 0" in cli.ok("send")


def test_send_records_failures_and_still_exits_0(cli, engine: Engine) -> None:
    write_config(
        '[email]\ntransport = "smtp"\n'
        '[email.smtp]\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\ntimeout_seconds = 2\n'
    )
    row_id = queue(engine, "k1")

    out = cli.ok("send")

    assert "sent 0, to retry later 1, failed 0" in out
    (item,) = json.loads(cli.ok("outbox", "--json"))
    assert item["id"] == row_id
    assert (item["status"], item["attempts"]) == ("pending", 1)
    assert "ConnectionRefusedError" in item["last_error"]


def test_an_smtp_username_without_the_password_is_a_config_error_exit_2(
    cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD", raising=False)
    write_config('[email]\ntransport = "smtp"\n[email.smtp]\nusername = "monitor"\n')
    queue(engine, "k1")

    result = cli("send")

    assert result.code == 2
    assert "email.smtp.username" in result.err
    assert "MONITOR_SMTP_PASSWORD" in result.err
    assert json.loads(cli.ok("outbox", "--json"))[0]["status"] == "pending"
