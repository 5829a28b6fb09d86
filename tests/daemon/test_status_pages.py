"""`monitor status` pages whenever mail or the daily cycle is not doing its job (issue 11 item 1).

Through the real commands against a real SMTP server (aiosmtpd) on loopback: one that refuses
every message with 550, one that is down. `status` must exit 1 and name the problem by kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from freezegun import freeze_time
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import parse_config
from monitor.domain.vocabulary import OutboxStatus
from monitor.notify import render
from monitor.notify.transports import make_transport
from monitor.services.mail import digest, queueing
from monitor.services.mail.daily import run_daily
from monitor.services.mail.outbox import drain_outbox, queue_email
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.daemon.conftest import (
    PATIENTS,
    SENDER,
    SmtpServer,
    add_due_patients,
    clinic_today,
    free_port,
    invoke,
    write_config,
)

REFUSAL = "550 5.7.1 Delivery not authorized, message refused"


@dataclass
class Refusing:
    """aiosmtpd handler that refuses every message after DATA with a permanent 550."""

    refused: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        assert isinstance(content, bytes)
        self.refused.append(content)
        return REFUSAL


@pytest.fixture
def refusing_server() -> Iterator[tuple[int, Refusing]]:
    handler = Refusing()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def status(url: str, config: Path) -> tuple[int, dict[str, Any], str]:
    """`monitor status --json` and `monitor status`: (exit code, report, the text form)."""
    options = ["--database", url, "--config", str(config)]
    runner = CliRunner()
    as_json = runner.invoke(app, [*options, "status", "--json"])
    as_text = runner.invoke(app, [*options, "status"])
    assert as_json.exit_code == as_text.exit_code, as_text.stderr
    return as_json.exit_code, json.loads(as_json.stdout), as_text.stdout


def test_a_server_refusing_every_message_with_550_makes_status_page_by_kind(
    database: str,
    db_engine: Engine,
    refusing_server: tuple[int, Refusing],
    tmp_path: Path,
) -> None:
    port, handler = refusing_server
    config = write_config(tmp_path, smtp_port=port)
    add_due_patients(database, config)
    invoke(database, config, "daily")

    sent = invoke(database, config, "send")

    # every reminder, the digest, and an escalation per patient (40 days overdue, never reached)
    assert f"failed {2 * len(PATIENTS) + 1}" in sent
    assert len(handler.refused) == 2 * len(PATIENTS) + 1
    code, report, text = status(database, config)
    assert code == 1
    kinds = report["outbox"]["failed_last_24h_by_kind"]
    assert kinds == {
        "patient-tests-overdue": len(PATIENTS),
        "staff-daily-digest": 1,
        "staff-escalation": len(PATIENTS),
    }
    assert report["outbox"]["failed_last_24h"] == 2 * len(PATIENTS) + 1
    (problem,) = [p for p in report["problems"] if "failed for good" in p]
    assert f"{len(PATIENTS)} patient-tests-overdue" in problem
    assert "1 staff-daily-digest" in problem
    assert f"problem: {problem}" in text
    assert "ok" not in text.splitlines()


def test_failing_for_counts_from_the_first_failure_not_from_when_the_message_was_queued(
    engine: Engine, cli: Any, smtp_down: SmtpServer, tmp_path: Path
) -> None:
    """Mail queued overnight while the daemon was down is not "failing" before it is tried."""
    queued_at = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    first_try = queued_at + timedelta(hours=2)
    with unit_of_work(engine) as session:
        queue_email(session, message="patient-tests-due", recipient="pat@example.org",
                    subject="Reminder", body_text="text", body_html=None, calendar=None,
                    dedupe_key="k1", now=queued_at, mail_domain="clinic.example")  # fmt: skip
    config = parse_config(
        {"email": {"transport": "smtp", "from": SENDER,
                   "smtp": {"host": "127.0.0.1", "port": smtp_down.port, "security": "none",
                            "timeout_seconds": 5}}}
    )  # fmt: skip
    drain_outbox(engine, make_transport(config), now_fn=lambda: first_try, sender=SENDER)
    with unit_of_work(engine) as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert (row.status, row.attempts, row.first_failed_at) == (
            OutboxStatus.PENDING, 1, first_try
        )  # fmt: skip

    write_configured(tmp_path)
    soon, later = first_try + timedelta(minutes=10), first_try + timedelta(minutes=61)
    with freeze_time(soon):
        report = json.loads(cli("status", "--json").out)
    assert report["outbox"]["failing_for_seconds"] == 600
    assert not [p for p in report["problems"] if "failing" in p]
    with freeze_time(later):
        result = cli("status", "--json")
    report = json.loads(result.out)
    assert result.code == 1
    assert "email delivery has been failing for over an hour" in report["problems"]


def write_configured(folder: Path) -> None:
    """A config.toml with the clinic's own values, so placeholders raise no problem."""
    write_config(folder, smtp_port=25)


def test_a_digest_that_cannot_be_built_is_recorded_and_pages(
    engine: Engine, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config_path = write_config(tmp_path, smtp_port=25)
    config = parse_config(_toml(config_path))
    today = clinic_today()
    add_due_patients(cli.url, config_path)
    real = render.render_email

    def broken(message: str, context: dict[str, Any]) -> Any:
        if message == digest.DIGEST:
            raise KeyError("a template variable")
        return real(message, context)

    monkeypatch.setattr(queueing, "render_email", broken)
    now = datetime.now(UTC)

    report = run_daily(engine, on=today, config=config, now=now)

    # the patients' reminders still went in, and their escalations (40 days overdue)
    assert report.queued == 2 * len(PATIENTS)
    with unit_of_work(engine) as session:
        (row,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.message == digest.DIGEST)
        ).all()
        assert row.status is OutboxStatus.SKIPPED
        assert row.reason == "the digest could not be built (KeyError)"
    code, status_report, _ = status(cli.url, config_path)
    assert code == 1
    assert f"the daily digest for site main on {today} could not be built" in " ".join(
        status_report["problems"]
    )

    # Fixed: the next cycle for the same day builds it, and the page clears.
    monkeypatch.setattr(queueing, "render_email", real)
    assert run_daily(engine, on=today, config=config, now=now).queued == 1
    code, status_report, _ = status(cli.url, config_path)
    assert (code, status_report["problems"]) == (0, [])


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))
