"""`monitor letters` and `monitor preview --channel` on the command line: the PDF file, the
counts, bad input (exit 2, nothing changed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.services.mail.daily import run_daily
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.conftest import CLINIC_TOML, Cli
from tests.services.channel_clinic import ADDRESS, CONFIG, DAY, NOW, add


def letter_statuses(engine: Engine) -> list[OutboxStatus]:
    with unit_of_work(engine) as session:
        query = select(OutboxMessage.status).where(
            OutboxMessage.channel == Channel.LETTER, OutboxMessage.body_html.is_not(None)
        )
        return sorted(session.scalars(query))


def page_count(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    return int(next(line for line in info.stdout.splitlines() if line.startswith("Pages:"))[6:])


@pytest.fixture
def letters_due(engine: Engine) -> int:
    add(engine, "L1", name="Ada Lovelace", channel=Channel.LETTER, address=ADDRESS)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)
    return len(letter_statuses(engine))


def test_letters_writes_one_pdf_once_and_reprints_on_request(
    cli: Cli, engine: Engine, letters_due: int, tmp_path: Path
) -> None:
    out = tmp_path / "today.pdf"

    first = cli.ok("letters", "--on", DAY.isoformat(), "--out", str(out))
    assert f"{letters_due} letter(s) printed: {2 * letters_due} pages in {out}" in first
    assert page_count(out) == 2 * letters_due
    assert set(letter_statuses(engine)) == {OutboxStatus.SENT}

    out.unlink()
    again = cli.ok("letters", "--on", DAY.isoformat(), "--out", str(out))
    assert "no letters to print" in again and not out.exists()

    cli.ok("letters", "--on", DAY.isoformat(), "--out", str(out), "--reprint")
    assert page_count(out) == 2 * letters_due


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--on", "2026-13-01"], "--on"),
        (["--on", DAY.isoformat(), "--out", "/nonexistent/folder/x.pdf"], "cannot write it"),
    ],
)
def test_bad_input_exits_2_and_every_letter_still_waits(
    cli: Cli, engine: Engine, letters_due: int, args: list[str], words: str
) -> None:
    result = cli("letters", *args)

    assert result.code == 2 and words in result.err
    assert letter_statuses(engine) == [OutboxStatus.PENDING] * letters_due


def test_preview_shows_the_sms_and_writes_the_letter(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CLINIC_TOML)
    sms = cli.ok("--config", str(config), "preview", "patient-tests-overdue", "--channel", "sms")
    text, length = sms.strip().splitlines()
    assert text.startswith("Reminder from Test MS Clinic:") and "Alex" not in text
    assert length == f"({len(text)} of 160 characters)"

    out = tmp_path / "letter.pdf"
    cli.ok("--config", str(config), "preview", "patient-tests-due", "--channel", "letter",
           "--out", str(out))  # fmt: skip
    shown = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "Dear Alex," in shown and page_count(out) == 2

    staff = cli("preview", "staff-daily-digest", "--channel", "sms")
    assert staff.code == 2 and "--channel applies to patient-tests-due" in staff.err
