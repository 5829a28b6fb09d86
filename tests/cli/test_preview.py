"""`monitor preview MESSAGE [--mrn MRN] [--out FILE.html]`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.domain.vocabulary import OutboxStatus
from monitor.notify.registry import MESSAGES
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.conftest import CLINIC_TOML

MRN = "MRN-770415"


@pytest.mark.parametrize("message", MESSAGES)
def test_it_previews_every_message_with_sample_data(cli, message):
    out = cli.ok("preview", message, "--as-of", "2026-03-05")
    html = Path(f"preview-{message}.html")
    assert out.startswith("Subject: ")
    assert f"HTML written to {html}" in out
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_patient_preview_uses_the_configured_clinic(cli, tmp_path):
    (tmp_path / "config.toml").write_text(
        '[clinic]\nname = "Riverside Neurology"\nphone = "020 7946 0000"\n'
    )
    out = cli.ok("preview", "patient-tests-due", "--as-of", "2026-03-05")
    assert "Subject: Reminder from Riverside Neurology\n" in out
    assert "Dear Alex," in out
    assert "due by Thursday 12 March 2026" in out
    assert "call us on 020 7946 0000" in out


def test_out_names_the_html_file(cli, tmp_path):
    target = tmp_path / "mail" / "digest.html"
    target.parent.mkdir()
    out = cli.ok("preview", "staff-daily-digest", "--out", str(target))
    assert f"HTML written to {target}" in out
    assert "S0002" in target.read_text(encoding="utf-8")


def test_an_unknown_message_exits_2_and_lists_the_known_ones(cli):
    result = cli("preview", "patient-results")
    assert result.code == 2
    assert "unknown message 'patient-results'" in result.err
    for message in MESSAGES:
        assert message in result.err
    assert not list(Path().glob("preview-*.html"))


def _patient(cli) -> None:
    cli.ok("patient", "add", MRN, "--name", "Ann Example", "--dob", "1984-07-23")
    cli.ok("course", "add", MRN, "--start", "2024-01-08", "--days", "5")


def test_mrn_uses_the_patients_first_name_and_next_due_tests(cli):
    _patient(cli)
    out = cli.ok("preview", "patient-tests-due", "--mrn", MRN, "--as-of", "2024-02-05")
    assert "Dear Ann," in out
    assert "your routine blood and urine tests, due by Monday 12 February 2024" in out
    assert "thyroid" not in out  # due in April, not with the next date
    for private in ("Example", MRN, "1984"):
        assert private not in out
        assert private not in Path("preview-patient-tests-due.html").read_text(encoding="utf-8")


def test_mrn_uses_the_patients_overdue_tests(cli):
    _patient(cli)
    out = cli.ok("preview", "patient-tests-overdue", "--mrn", MRN, "--as-of", "2024-02-20")
    assert "Dear Ann," in out
    assert "we have not yet received" in out
    assert "due by Monday 12 February 2024" in out


def test_mrn_with_nothing_overdue_exits_2(cli):
    _patient(cli)
    result = cli("preview", "patient-tests-overdue", "--mrn", MRN, "--as-of", "2023-11-01")
    assert result.code == 2
    assert "no overdue tests" in result.err


def test_an_unknown_mrn_exits_2(cli):
    result = cli("preview", "patient-tests-due", "--mrn", "NOPE")
    assert result.code == 2
    assert "unknown MRN 'NOPE'" in result.err


def test_mrn_is_for_patient_messages_only(cli):
    result = cli("preview", "staff-daily-digest", "--mrn", MRN)
    assert result.code == 2
    assert "--mrn applies to" in result.err


@pytest.mark.parametrize(
    ("message", "as_of"),
    [("patient-tests-due", "2024-02-05"), ("patient-tests-overdue", "2024-02-20")],
)
def test_mrn_previews_the_email_the_daily_cycle_queues(cli, tmp_path, engine, message, as_of):
    """The preview and the cycle decide from the same slots and rules (services.mail.daily)."""
    (tmp_path / "config.toml").write_text(CLINIC_TOML)
    cli.ok("patient", "add", MRN, "--name", "Ann Example", "--email", "ann@example.org")
    cli.ok("course", "add", MRN, "--start", "2024-01-08", "--days", "5")
    out = cli.ok("preview", message, "--mrn", MRN, "--as-of", as_of)
    cli.ok("daily", "--as-of", as_of)
    with unit_of_work(engine) as session:
        (row,) = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.message == message, OutboxMessage.status == OutboxStatus.PENDING
            )
        )
        assert f"Subject: {row.subject}\n\n{row.body_text}\nHTML written to" in out
        assert Path(f"preview-{message}.html").read_text(encoding="utf-8") == row.body_html


def test_a_day_without_a_due_reminder_names_the_next_due_date_to_preview(cli):
    _patient(cli)
    result = cli("preview", "patient-tests-due", "--mrn", MRN, "--as-of", "2024-01-20")
    assert result.code == 2
    assert "the daily cycle of 2024-01-20 sends MRN-770415 no due reminder" in result.err
    assert "their next tests are due 2024-02-12" in result.err
    out = cli.ok("preview", "patient-tests-due", "--mrn", MRN, "--as-of", "2024-02-12")
    assert "due by Monday 12 February 2024" in out
