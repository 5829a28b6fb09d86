"""`monitor outbox` and `monitor send` through the real command (SPEC §5, §7)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from freezegun import freeze_time
from sqlalchemy import Engine, update

from monitor.cli.context import cli_actor
from monitor.services.mail.digest import DIGEST
from monitor.services.mail.outbox import queue_email, record_skipped
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.conftest import CLINIC_TOML

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
        "message_id": data[2]["message_id"],
        "reason": None,
        "attempts": 0,
        "last_error": None,
        "created_at": "2026-11-27T07:00:00+00:00",
        "sent_at": None,
        "channel": "email",
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


# --- an email the mail server never confirmed -------------------------------------------------


class KeepsButNeverAnswers:
    """aiosmtpd handler: keeps the message, then answers only once `release` is set."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.release = threading.Event()

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.messages.append(envelope.original_content)
        await asyncio.to_thread(self.release.wait, 120)
        return "250 OK"


@pytest.fixture
def silent_server() -> Iterator[tuple[int, KeepsButNeverAnswers]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = KeepsButNeverAnswers()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler
    handler.release.set()
    controller.stop()


def unconfirmed_row(cli, engine: Engine, port: int) -> int:
    """Queue one email and `monitor send` it to a server that never confirms it."""
    clinic = CLINIC_TOML.replace("[email]\n", '[email]\ntransport = "smtp"\n')
    write_config(
        f"{clinic}\n"
        f'[email.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        "timeout_seconds = 1\nfinal_reply_timeout_seconds = 1\n"
    )
    row_id = queue(engine, "k1")
    out = cli.ok("send")
    assert "sent 0, to retry later 0, failed 0, not confirmed by the mail server 1" in out
    return row_id


def test_an_unconfirmed_email_shows_in_outbox_status_and_the_digest_and_is_not_resent(
    cli, engine: Engine, silent_server: tuple[int, KeepsButNeverAnswers]
) -> None:
    port, server = silent_server
    row_id = unconfirmed_row(cli, engine, port)

    (item,) = json.loads(cli.ok("outbox", "--json"))
    assert (item["id"], item["status"], item["attempts"]) == (row_id, "unconfirmed", 1)
    assert SPEC_KEYS <= set(item) and item["message_id"].endswith("@clinic.example>")
    assert "Message-ID" in item["last_error"]
    assert "unconfirmed" in cli.ok("outbox")

    assert "sent 0, to retry later 0, failed 0" in cli.ok("send")  # not sent again
    assert len(server.messages) == 1

    with freeze_time(NOW - timedelta(hours=2)):  # before the daily cycle is due: one problem
        result = cli("status", "--json")
    report = json.loads(result.out)
    assert result.code == 1
    assert report["outbox"]["unconfirmed"] == 1
    (problem,) = report["problems"]
    assert "1 email(s) were sent but the mail server never confirmed them" in problem
    assert "monitor outbox confirm ID" in problem and "monitor outbox resend ID" in problem

    cli.ok("patient", "add", "MRN1", "--name", "Pat Example", "--email", "pat@example.org")
    cli.ok("daily")
    digests = [r for r in json.loads(cli.ok("outbox", "--json")) if r["message"] == DIGEST]
    with unit_of_work(engine) as session:
        body = session.get_one(OutboxMessage, digests[0]["id"]).body_text
    assert "1 message(s) were sent but never confirmed by the mail server" in body


def test_a_person_confirms_an_unconfirmed_email_as_delivered(
    cli, engine: Engine, silent_server: tuple[int, KeepsButNeverAnswers]
) -> None:
    row_id = unconfirmed_row(cli, engine, silent_server[0])

    assert f"outbox {row_id}: marked sent" in cli.ok("outbox", "confirm", str(row_id))

    (item,) = json.loads(cli.ok("outbox", "--json"))
    assert (item["status"], item["reason"]) == ("sent", f"delivery confirmed by {cli_actor()}")
    assert item["sent_at"] is not None
    with freeze_time(NOW - timedelta(hours=2)):
        assert cli("status", "--json").code == 0
    (entry,) = json.loads(cli.ok("audit", "--json"))
    assert (entry["action"], entry["entity_id"]) == ("outbox.confirm", row_id)


def test_a_person_resends_an_unconfirmed_email_with_the_same_message_id(
    cli, engine: Engine, silent_server: tuple[int, KeepsButNeverAnswers]
) -> None:
    port, server = silent_server
    row_id = unconfirmed_row(cli, engine, port)
    (before,) = json.loads(cli.ok("outbox", "--json"))
    server.release.set()  # the server answers again

    assert "queued to be sent again" in cli.ok("outbox", "resend", str(row_id))
    assert "sent 1, to retry later 0, failed 0" in cli.ok("send")

    (after,) = json.loads(cli.ok("outbox", "--json"))
    assert (after["status"], after["attempts"]) == ("sent", 2)
    assert after["message_id"] == before["message_id"]
    assert len(server.messages) == 2  # the person decided the first had not arrived
    parser = BytesParser(policy=policy.default)
    ids = {parser.parsebytes(raw)["Message-ID"] for raw in server.messages}
    assert ids == {before["message_id"]}
    assert json.loads(cli.ok("audit", "--json"))[0]["action"] == "outbox.resend"


@pytest.mark.parametrize("command", ["confirm", "resend"])
def test_only_an_unconfirmed_email_can_be_confirmed_or_resent(
    cli, engine: Engine, command: str
) -> None:
    row_id = queue(engine, "k1")

    unknown = cli("outbox", command, "999")
    pending = cli("outbox", command, str(row_id))

    assert (unknown.code, pending.code) == (2, 2)
    assert "unknown outbox id 999" in unknown.err
    assert f"outbox {row_id} is pending, not unconfirmed" in pending.err
    assert json.loads(cli.ok("outbox", "--json"))[0]["status"] == "pending"
