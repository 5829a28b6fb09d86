"""Build the MIME message for one outbox row (stdlib `email`, tech.md §5.1).

The result is `multipart/alternative` (text first, HTML last) when there is HTML, wrapped in
`multipart/mixed` when an iCalendar attachment comes along. The Message-ID is the one stored on
the row, so every attempt (and a re-send after a crash) carries the same one.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

CALENDAR_FILENAME = "appointments.ics"


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    calendar: str | None,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """One ready-to-send message; `recipient` may be a comma-separated list of addresses."""
    message = EmailMessage(policy=policy.SMTP)
    message["Message-ID"] = message_id
    message["Date"] = formatdate(date.timestamp(), usegmt=True)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body_text)
    if body_html:
        message.add_alternative(body_html, subtype="html")
    if calendar:
        message.add_attachment(
            calendar,
            subtype="calendar",
            filename=CALENDAR_FILENAME,
            params={"method": "PUBLISH"},
        )
    return message


def new_message_id(domain: str) -> str:
    """A fresh Message-ID on `domain` (never `socket.getfqdn()`, which can hang or be wrong)."""
    if not domain or any(c in domain for c in "<>@ \t\r\n"):
        raise ValueError(f"{domain!r} is not a mail domain")
    return make_msgid(idstring="monitor", domain=domain)


def domain_of(address: str) -> str:
    """The domain of an address like `Clinic <monitor@clinic.example>`, for Message-IDs."""
    _, bare = parseaddr(address)
    domain = bare.rpartition("@")[2]
    if not domain:
        raise ValueError(f"{address!r} has no domain")
    return domain
