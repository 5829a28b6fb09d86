"""MIME building, the file and console transports, and choosing a transport from the config."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from icalendar import Calendar

from monitor.config import Config, parse_config
from monitor.notify.calendar import build_overdue_calendar
from monitor.notify.messages import Clinic, TestDue
from monitor.notify.mime import build_message, domain_of, new_message_id
from monitor.notify.transports import (
    ConsoleTransport,
    FileTransport,
    SmtpTransport,
    TransportError,
    make_transport,
)

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


def message(
    *,
    html: str | None = "<p>Dear Pat</p>",
    calendar: str | None = CALENDAR,
    recipient: str = "pat@example.org",
    message_id: str = "<1.2.monitor@clinic.example>",
) -> EmailMessage:
    return build_message(
        sender="MS Clinic <monitor@clinic.example>",
        recipient=recipient,
        subject="Reminder from MS Clinic",
        body_text="Dear Pat,\nyour tests are due.\n",
        body_html=html,
        calendar=calendar,
        message_id=message_id,
        date=NOW,
    )


def parse(data: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


# --- MIME ------------------------------------------------------------------------------------


def test_text_html_and_calendar_make_mixed_with_an_alternative_inside() -> None:
    built = parse(message().as_bytes())

    assert built.get_content_type() == "multipart/mixed"
    alternative, attachment = built.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "PUBLISH"
    assert attachment.get_filename() == "appointments.ics"
    assert attachment.get_content_disposition() == "attachment"


def test_text_only_is_a_single_plain_part() -> None:
    built = parse(message(html=None, calendar=None).as_bytes())

    assert built.get_content_type() == "text/plain"
    assert built.get_content().splitlines() == ["Dear Pat,", "your tests are due."]


def test_headers() -> None:
    built = parse(message(recipient="a@clinic.example, b@clinic.example").as_bytes())

    assert built["Message-ID"] == "<1.2.monitor@clinic.example>"
    assert built["Date"].datetime == NOW
    assert built["From"] == "MS Clinic <monitor@clinic.example>"
    assert [a.addr_spec for a in built["To"].addresses] == ["a@clinic.example", "b@clinic.example"]
    assert built["Subject"] == "Reminder from MS Clinic"
    assert built["Auto-Submitted"] == "auto-generated"


def test_a_subject_cannot_smuggle_headers() -> None:
    with pytest.raises(ValueError):
        build_message(
            sender="monitor@clinic.example",
            recipient="pat@example.org",
            subject="hello\nBcc: everyone@example.org",
            body_text="x",
            body_html=None,
            calendar=None,
            message_id="<1@clinic.example>",
            date=NOW,
        )


def test_message_ids_use_the_given_domain() -> None:
    first, second = new_message_id("clinic.example"), new_message_id("clinic.example")

    assert first != second
    assert first.startswith("<") and first.endswith("@clinic.example>")


@pytest.mark.parametrize("domain", ["", "a b", "<clinic.example>", "x@clinic.example"])
def test_a_malformed_mail_domain_is_refused(domain: str) -> None:
    with pytest.raises(ValueError):
        new_message_id(domain)


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("monitor@clinic.example", "clinic.example"),
        ("MS Clinic <monitor@clinic.example>", "clinic.example"),
    ],
)
def test_domain_of_an_address(address: str, domain: str) -> None:
    assert domain_of(address) == domain


# --- file ------------------------------------------------------------------------------------


def test_the_file_transport_writes_parseable_eml_files(tmp_path: Path) -> None:
    folder = tmp_path / "mail" / "out"
    transport = FileTransport(folder)
    assert folder.is_dir()

    transport.send(message(message_id="<1.2.monitor@clinic.example>"))
    transport.send(message(message_id="<3/../4.monitor@clinic.example>"))

    files = sorted(folder.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    assert all(f.parent == folder for f in files)
    assert any(f.name.endswith("-1.2.monitor_clinic.example.eml") for f in files)
    parsed = [parse(f.read_bytes()) for f in files]
    assert {p["Message-ID"] for p in parsed} == {
        "<1.2.monitor@clinic.example>",
        "<3/../4.monitor@clinic.example>",
    }
    body = parsed[0].get_body(preferencelist=("plain",))
    assert body is not None and "your tests are due" in body.get_content()
    assert not list(folder.glob(".*"))  # no temporary files left behind


BARE_LF = re.compile(rb"(?<!\r)\n")


@pytest.mark.parametrize(
    "clinic_name",
    ["Riverside Neurology", "Clinique Saint-Éloi"],  # 7bit, and a non-ASCII (encoded) part
)
def test_an_eml_file_and_its_calendar_have_crlf_line_ends_and_parse_back(
    tmp_path: Path, clinic_name: str
) -> None:
    clinic = Clinic(clinic_name, "020 7946 0000")
    tests = [TestDue("cbc", date(2026, 3, 12)), TestDue("tsh", date(2026, 3, 12))]
    ics = build_overdue_calendar(clinic, tests, emailed_on=date(2026, 3, 20), stamp=NOW)
    FileTransport(tmp_path).send(message(calendar=ics))

    (eml,) = tmp_path.glob("*.eml")
    data = eml.read_bytes()
    assert b"\r\n" in data and not BARE_LF.search(data)  # RFC 5322 lines end in CRLF
    (attachment,) = parse(data).iter_attachments()
    assert attachment.get_content_type() == "text/calendar"
    ics_bytes = attachment.get_payload(decode=True)
    assert isinstance(ics_bytes, bytes)
    assert ics_bytes.endswith(b"\r\n") and not BARE_LF.search(ics_bytes)  # RFC 5545 §3.1
    (event,) = Calendar.from_ical(ics_bytes).walk("VEVENT")
    assert event.decoded("DTSTART") == date(2026, 3, 21)
    assert str(event["SUMMARY"]) == f"Book your tests - {clinic_name}"


# --- console ---------------------------------------------------------------------------------


def test_the_console_transport_prints_headers_and_text_but_not_html() -> None:
    stream = io.StringIO()

    ConsoleTransport(stream).send(message(html="<p>SECRET-HTML</p>"))

    printed = stream.getvalue()
    assert "Subject: Reminder from MS Clinic" in printed
    assert "Message-ID: <1.2.monitor@clinic.example>" in printed
    assert "your tests are due." in printed
    assert "[attachment: appointments.ics]" in printed
    assert "SECRET-HTML" not in printed


# --- choosing --------------------------------------------------------------------------------


def test_the_embedded_default_is_the_file_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    transport = make_transport(Config())

    assert isinstance(transport, FileTransport)
    assert transport.folder == Path("outbox-mail")
    assert (tmp_path / "outbox-mail").is_dir()


def test_console_transport_from_config() -> None:
    config = parse_config({"email": {"transport": "console"}})
    assert isinstance(make_transport(config), ConsoleTransport)


def test_smtp_transport_takes_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = parse_config(
        {"email": {"transport": "smtp", "smtp": {"host": "mail", "username": "monitor"}}}
    )
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "s3cret")
    assert isinstance(make_transport(config), SmtpTransport)

    monkeypatch.delenv("MONITOR_SMTP_PASSWORD")
    with pytest.raises(TransportError, match="MONITOR_SMTP_PASSWORD"):
        make_transport(config)


def test_smtp_without_a_username_needs_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD", raising=False)
    config = parse_config({"email": {"transport": "smtp", "smtp": {"security": "none"}}})
    assert isinstance(make_transport(config), SmtpTransport)
