"""Reminder letters: rendered when decided, printed later with an address page each (pure).

A letter is `templates/print/letters/<message>.html` (extending `print/_base.html`) with the
email's context (`notify.messages`: first name, the tests in plain words, the due-by dates, the
clinic's name and phone) and the date of the cycle that decided it. The outbox keeps that HTML
(`body_html`) and the postal address (`recipient`); `monitor letters` prints each as two pages,
the address (placed for a DL window envelope) and then the letter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from monitor.notify.messages import long_date
from monitor.notify.pdf import print_pdf, render_print_html
from monitor.notify.registry import Audience, registered

LETTER_SUBJECT = "Reminder letter"


@dataclass(frozen=True)
class Letter:
    address: str  # postal address, lines separated by newlines
    html: str  # the letter as rendered when it was decided


def render_letter(message: str, context: Mapping[str, Any], *, on: date) -> str:
    """The HTML of a patient reminder letter dated `on` (the deciding cycle's date)."""
    if registered(message).audience is not Audience.PATIENT:
        raise ValueError(f"{message}: only patient reminders go by letter")
    return render_print_html(f"letters/{message}.html", {**context, "letter_on": long_date(on)})


def address_lines(address: str) -> str:
    """The address as printed: each non-blank line once trimmed, in order."""
    return "\n".join(line.strip() for line in address.splitlines() if line.strip())


def address_page(address: str) -> str:
    return render_print_html("letters/address.html", {"address": address_lines(address)})


def letters_pdf(letters: Sequence[Letter]) -> bytes:
    """One PDF: for each letter its address page, then the letter; in the order given."""
    pages: list[str] = []
    for letter in letters:
        pages += [address_page(letter.address), letter.html]
    return print_pdf(pages)
