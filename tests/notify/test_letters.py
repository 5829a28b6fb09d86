"""Reminder letters as rendered (autoescaped HTML, SPEC §5's words only) and printed (an address
page before each letter), read back with `pdftotext`."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest

from monitor.notify.letters import Letter, address_page, letters_pdf, render_letter
from monitor.notify.messages import Clinic, TestDue
from monitor.notify.registry import PATIENT_MESSAGES, registered

CLINIC = Clinic("Test MS Clinic", "0100 000 0000")
TESTS = [TestDue("cbc", date(2026, 3, 5)), TestDue("tsh", date(2026, 3, 19))]
ON = date(2026, 3, 2)


def letter(message: str, first_name: str = "Ada") -> str:
    context = registered(message).draft(first_name, CLINIC, TESTS).context()
    return render_letter(message, context, on=ON)


@pytest.mark.parametrize("message", PATIENT_MESSAGES)
def test_a_letter_names_the_tests_their_dates_and_the_clinic(message: str) -> None:
    html = letter(message)
    assert "Dear Ada," in html and "Monday 2 March 2026" in html
    assert "Your routine blood and urine tests</strong>, due by Thursday 5 March 2026" in html
    assert "Your thyroid blood test</strong>, due by Thursday 19 March 2026" in html
    assert html.count("0100 000 0000") >= 2 and "Test MS Clinic" in html


@pytest.mark.parametrize("message", PATIENT_MESSAGES)
def test_markup_in_a_name_or_an_address_is_printed_as_text(message: str) -> None:
    assert "&lt;b&gt;Ada" in letter(message, "<b>Ada")
    page = address_page("<img src=x>\n\n  2 Road  \nTown")
    assert "&lt;img src=x&gt;\n2 Road\nTown" in page and "<img" not in page


def test_a_staff_message_has_no_letter() -> None:
    with pytest.raises(ValueError, match="only patient reminders"):
        render_letter("staff-daily-digest", {}, on=ON)


def page_text(path: Path, page: int) -> str:
    command = ["pdftotext", "-f", str(page), "-l", str(page), str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_each_letter_prints_as_its_address_page_then_the_letter(tmp_path: Path) -> None:
    first = Letter("1 First Street\nTown", letter(PATIENT_MESSAGES[0], "Ada"))
    second = Letter("2 Second Street\nTown", letter(PATIENT_MESSAGES[1], "Grace"))
    pdf = letters_pdf([first, second])
    path = tmp_path / "two.pdf"
    path.write_bytes(pdf)
    pages = [page_text(path, n) for n in range(1, 5)]
    assert "1 First Street" in pages[0] and "Dear" not in pages[0]
    assert "Dear Ada," in pages[1] and "First Street" not in pages[1]
    assert "2 Second Street" in pages[2] and "Dear Grace," in pages[3]
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    assert "Pages:           4" in info.stdout
