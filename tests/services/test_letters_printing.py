"""`monitor letters`' service: the letters the daily cycles decided, printed once into one PDF,
an address page before each letter, read back with poppler's `pdftotext` (issue 14 item 4)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from monitor.domain.vocabulary import Channel, OutboxStatus
from monitor.services.mail.daily import run_daily
from monitor.services.mail.health import mail_health
from monitor.services.mail.letters import PrintRun, print_letters
from monitor.services.mail.outbox import claim_batch, drain_outbox
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, OutboxMessage
from tests.conftest import clinic_config
from tests.services.channel_clinic import DAY, NO_ESCALATION, NOW, add

# Overdue reminders off: each patient gets exactly one letter on DAY (their due reminder).
CONFIG = clinic_config({"reminders": {"overdue_days": []}, **NO_ESCALATION})
PATIENTS = {"L1": "Ada Lovelace", "L2": "Grace Hopper", "L3": "Alan Turing"}
PRINTED_AT = NOW + timedelta(hours=3)


def flat(mrn: str) -> str:
    return f"Flat {mrn[1:]}\n10 Example Road\nExampletown\nEX1 2MP"


def clinic(engine: Engine, patients: dict[str, str] = PATIENTS) -> None:
    for mrn, name in patients.items():
        add(engine, mrn, name=name, channel=Channel.LETTER, address=flat(mrn), result=True,
            config=CONFIG)  # fmt: skip


def pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, in order."""
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is missing: PDF tests cannot run")
    path = tmp_path / "letters.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    count = int(re.findall(r"^Pages:\s+(\d+)", info.stdout, re.M)[0])
    return [page_text(path, n) for n in range(1, count + 1)]


def page_text(path: Path, page: int) -> str:
    command = ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def printed(engine: Engine, *, reprint: bool = False) -> tuple[list[bytes], PrintRun]:
    written: list[bytes] = []
    run = print_letters(
        engine, on=DAY, now_fn=lambda: PRINTED_AT, write=written.append, actor="cli:nurse",
        reprint=reprint,
    )  # fmt: skip
    return written, run


class Recording:
    def __init__(self) -> None:
        self.to: list[str] = []

    def send(self, message: EmailMessage) -> None:
        self.to.append(str(message["To"]))


def letter_rows(engine: Engine) -> list[OutboxMessage]:
    with unit_of_work(engine) as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.channel == Channel.LETTER, OutboxMessage.body_html.is_not(None))
            .order_by(OutboxMessage.id)
        ).all()
        session.expunge_all()
    return list(rows)


def test_n_letters_print_as_2n_pages_each_address_before_its_letter(
    engine: Engine, tmp_path: Path
) -> None:
    clinic(engine)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)

    (pdf,), run = printed(engine)

    texts = pages(pdf, tmp_path)
    assert len(texts) == 2 * len(PATIENTS) == run.pages
    by_flat = {f"Flat {mrn[1:]}": name.split()[0] for mrn, name in PATIENTS.items()}
    seen = []
    for address_page, letter_page in zip(texts[::2], texts[1::2], strict=True):
        (flat_line,) = [line.strip() for line in address_page.splitlines() if "Flat" in line]
        assert "Dear" not in address_page and "EX1 2MP" in address_page
        assert f"Dear {by_flat[flat_line]}," in letter_page  # the letter after its own address
        assert "Test MS Clinic" in letter_page and "0100 000 0000" in letter_page
        assert "Thursday 5 March 2026" in letter_page  # the due-by date
        seen.append(by_flat[flat_line])
    assert sorted(seen) == sorted(name.split()[0] for name in PATIENTS.values())
    rows = letter_rows(engine)
    assert [row.id for row in rows] == run.printed  # in id order
    assert {(row.status, row.sent_at) for row in rows} == {(OutboxStatus.SENT, PRINTED_AT)}


def test_a_letter_says_nothing_about_the_drug_the_results_or_who_the_patient_is(
    engine: Engine, tmp_path: Path
) -> None:
    clinic(engine)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)

    (pdf,), _ = printed(engine)

    text = "\n".join(pages(pdf, tmp_path)[1::2]).lower()  # the letters (not the address pages)
    never = ["alemtuzumab", "lemtrada", "platelet", "72", "lovelace", "hopper", "turing",
             "1980", "02/01", "l1", "l2", "l3", "flat", "multiple sclerosis"]  # fmt: skip
    for plan in CONFIG.protocols.values():
        never += [plan.id.lower(), *re.findall(r"\w{5,}", plan.name.lower())]
    assert [word for word in never if word in text] == []
    assert all(f"dear {name.split()[0].lower()}," in text for name in PATIENTS.values())


def test_printing_again_prints_nothing_and_a_reprint_prints_the_day_s_letters_unchanged(
    engine: Engine, tmp_path: Path
) -> None:
    clinic(engine)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)
    printed(engine)

    written, run = printed(engine)
    assert written == [] and run.pages == 0

    (pdf,), run = printed(engine, reprint=True)
    assert len(pages(pdf, tmp_path)) == 2 * len(PATIENTS)
    assert (run.printed, len(run.reprinted)) == ([], len(PATIENTS))
    assert {(r.status, r.sent_at) for r in letter_rows(engine)} == {(OutboxStatus.SENT, PRINTED_AT)}
    with unit_of_work(engine) as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "letters.print").order_by(AuditEntry.id)
        ).all()
    assert [(len(a.after["printed"]), len(a.after["reprinted"])) for a in audited] == [
        (3, 0),
        (0, 3),
    ]
    assert {a.actor for a in audited} == {"cli:nurse"}


def test_a_day_nobody_printed_is_caught_up_and_a_later_day_waits(engine: Engine) -> None:
    clinic(engine, {"L1": "Ada Lovelace"})
    run_daily(engine, on=DAY - timedelta(days=1), config=CONFIG, now=NOW)
    clinic(engine, {"L2": "Grace Hopper"})
    run_daily(engine, on=DAY + timedelta(days=1), config=CONFIG, now=NOW)

    _, run = printed(engine)

    by_day = {row.id: row.run_on for row in letter_rows(engine)}
    assert [by_day[i] for i in run.printed] == [DAY - timedelta(days=1)]
    assert run.waiting == 0  # the next day's is not due yet
    statuses = {row.run_on: row.status for row in letter_rows(engine)}
    assert statuses[DAY + timedelta(days=1)] is OutboxStatus.PENDING


def test_a_pdf_that_cannot_be_written_leaves_every_letter_to_print(engine: Engine) -> None:
    clinic(engine)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)

    def fails(pdf: bytes) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        print_letters(engine, on=DAY, now_fn=lambda: NOW, write=fails, actor="cli:nurse")

    rows = letter_rows(engine)
    assert {(r.status, r.sent_at, r.claimed_by) for r in rows} == {
        (OutboxStatus.PENDING, None, None)
    }
    written, run = printed(engine)
    assert len(written) == 1 and len(run.printed) == len(PATIENTS)


def test_the_drain_never_takes_a_letter(engine: Engine) -> None:
    clinic(engine)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)

    transport = Recording()
    drain_outbox(engine, transport, now_fn=lambda: NOW)

    assert transport.to == ["nurses@clinic.example"]  # the digest; no letter
    assert {r.status for r in letter_rows(engine)} == {OutboxStatus.PENDING}


def test_letters_waiting_to_be_printed_are_not_mail_waiting_to_be_delivered(
    engine: Engine,
) -> None:
    clinic(engine)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)
    drain_outbox(engine, Recording(), now_fn=lambda: NOW)  # the digest goes; letters wait

    with unit_of_work(engine) as session:
        health = mail_health(session, NOW + timedelta(days=3))
    assert len(letter_rows(engine)) == len(PATIENTS)
    assert (health.pending, health.oldest_pending_age_seconds, health.retrying) == (0, None, 0)


def test_letters_another_print_run_holds_are_left_to_it_until_its_claim_expires(
    engine: Engine,
) -> None:
    clinic(engine)
    run_daily(engine, on=DAY, config=CONFIG, now=NOW)
    held = claim_batch(engine, now=PRINTED_AT, owner="other-printer", lease=timedelta(hours=1),
                       channels=(Channel.LETTER,))  # fmt: skip
    assert len(held) == len(PATIENTS)

    written, run = printed(engine)  # at PRINTED_AT: the other run is still printing them
    assert (written, run.printed) == ([], [])

    later = print_letters(engine, on=DAY, now_fn=lambda: PRINTED_AT + timedelta(hours=2),
                          write=written.append, actor="cli:nurse")  # fmt: skip
    assert later.printed == held and len(written) == 1  # the other run died: printed once here
