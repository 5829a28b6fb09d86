"""SmtpTransport against a real in-process SMTP server (aiosmtpd), outcomes recorded in the outbox.

The server runs in its own thread on a free local port (aiosmtpd cannot use port 0), with a
self-signed certificate made for the test by `openssl req -x509`.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session, syntax
from sqlalchemy import Engine

from monitor.config import SmtpConfig
from monitor.domain.vocabulary import OutboxStatus
from monitor.notify.transports import SOCKET_WAITS_PER_SEND, DeliveryError, SmtpTransport
from monitor.services.mail.outbox import (
    CLAIM_MARGIN,
    DeliveryCounts,
    claim_span,
    drain_outbox,
    queue_email,
)
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SENDER = "MS Clinic <monitor@clinic.example>"
USER, PASSWORD = "monitor", "s3cret-pass"
CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:PUBLISH\r\n"
    "BEGIN:VEVENT\r\nUID:slot-1@clinic.example\r\nDTSTAMP:20261127T070000Z\r\n"
    "DTSTART;VALUE=DATE:20261204\r\nSUMMARY:Blood and urine tests\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


# --- the server ------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps what arrives; chosen recipients get chosen replies."""

    messages: list[bytes] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    reply_after_seconds: float = 0.0  # keep the message, then wait this long before the 250
    hold_reply: threading.Event | None = None  # keep the message, answer only once this is set

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            if address in self.data_replies:
                return self.data_replies[address]
        content = envelope.original_content
        assert isinstance(content, bytes)
        self.messages.append(content)
        if self.reply_after_seconds:
            await asyncio.sleep(self.reply_after_seconds)
        if self.hold_reply is not None:
            await asyncio.to_thread(self.hold_reply.wait, 120)
        return "250 Message accepted for delivery"

    def authenticate(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if good:
            self.logins.append(USER)
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def parsed(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(raw) for raw in self.messages]


@dataclass
class Server:
    port: int
    mailbox: Mailbox
    security: str

    def settings(self, *, username: str = USER) -> SmtpConfig:
        return SmtpConfig(
            host="127.0.0.1",
            port=self.port,
            security=self.security,
            username=username,
            timeout_seconds=5,
        )


class StartServer(Protocol):
    def __call__(self, security: str) -> Server: ...


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate (a server context will not do)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def start_server(certificate: tuple[Path, Path]) -> Iterator[StartServer]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*certificate)
    controllers: list[Controller] = []

    def start(security: str) -> Server:
        mailbox = Mailbox()
        port = free_port()
        options: dict[str, Any] = {"authenticator": mailbox.authenticate}
        if security == "starttls":
            options.update(tls_context=server_context, require_starttls=True, auth_required=True)
        elif security == "ssl":
            # Implicit TLS: aiosmtpd only counts STARTTLS as TLS for its AUTH rule.
            options.update(ssl_context=server_context, auth_require_tls=False)
        else:
            options = {}
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return Server(port, mailbox, security)

    yield start
    for controller in controllers:
        controller.stop()


# --- helpers ---------------------------------------------------------------------------------


def queue(engine: Engine, key: str, recipient: str = "pat@example.org") -> OutboxMessage:
    with unit_of_work(engine) as session:
        row = queue_email(
            session,
            message="patient-tests-due",
            recipient=recipient,
            subject="Reminder from MS Clinic",
            body_text="Dear Pat,\n\nyour routine blood and urine tests are due by 4 December.\n",
            body_html="<p>Dear Pat,</p><p>your routine blood and urine tests are due.</p>",
            calendar=CALENDAR,
            dedupe_key=key,
            now=NOW,
            mail_domain="clinic.example",
        )
    assert row is not None
    return row


def drain(engine: Engine, transport: SmtpTransport) -> DeliveryCounts:
    return drain_outbox(engine, transport, now_fn=lambda: NOW, sender=SENDER)


def reload(engine: Engine, row_id: int) -> OutboxMessage:
    with unit_of_work(engine) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        return row


def sent_message(mailbox: Mailbox) -> EmailMessage:
    (message,) = mailbox.parsed()
    return message


# --- round trips -----------------------------------------------------------------------------


def test_starttls_and_auth_deliver_the_whole_message_with_the_rows_message_id(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    row = queue(engine, "k1")

    counts = drain(engine, SmtpTransport(server.settings(), PASSWORD, context=client_context))

    assert counts == DeliveryCounts(sent=1)
    assert server.mailbox.logins == [USER]
    message = sent_message(server.mailbox)
    assert message["Message-ID"] == row.message_id
    assert message["Subject"] == "Reminder from MS Clinic"
    assert message["To"] == "pat@example.org"
    assert message["From"] == SENDER
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime == NOW  # the time it was queued, on every attempt
    assert message.get_content_type() == "multipart/mixed"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and "due by 4 December" in text.get_content()
    assert html is not None and "<p>Dear Pat,</p>" in html.get_content()
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "PUBLISH"
    assert attachment.get_filename() == "appointments.ics"
    assert "DTSTART;VALUE=DATE:20261204" in attachment.get_content()
    stored = reload(engine, row.id)
    assert (stored.status, stored.attempts, stored.sent_at) == (OutboxStatus.SENT, 1, NOW)


def test_implicit_tls_with_auth(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("ssl")
    row = queue(engine, "k1")

    counts = drain(engine, SmtpTransport(server.settings(), PASSWORD, context=client_context))

    assert counts == DeliveryCounts(sent=1)
    assert server.mailbox.logins == [USER]
    assert sent_message(server.mailbox)["Message-ID"] == row.message_id


def test_plain_smtp_without_login(engine: Engine, start_server: StartServer) -> None:
    server = start_server("none")
    row = queue(engine, "k1")

    counts = drain(engine, SmtpTransport(server.settings(username=""), None))

    assert counts == DeliveryCounts(sent=1)
    assert server.mailbox.logins == []
    assert sent_message(server.mailbox)["Message-ID"] == row.message_id


# --- failures, recorded ----------------------------------------------------------------------


def test_a_4xx_reply_is_retried_later(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    server.mailbox.rcpt_replies["later@example.org"] = "451 4.3.0 try later"
    row = queue(engine, "k1", recipient="later@example.org")

    counts = drain(engine, SmtpTransport(server.settings(), PASSWORD, context=client_context))

    assert counts == DeliveryCounts(retried=1)
    stored = reload(engine, row.id)
    assert stored.status == OutboxStatus.PENDING
    assert stored.attempts == 1
    assert stored.next_attempt_at == NOW + timedelta(minutes=1)
    assert stored.last_error is not None and "451" in stored.last_error
    assert server.mailbox.messages == []


def test_a_4xx_reply_to_data_is_retried_later(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    server.mailbox.data_replies["later@example.org"] = "452 4.3.1 insufficient storage"
    row = queue(engine, "k1", recipient="later@example.org")

    counts = drain(engine, SmtpTransport(server.settings(), PASSWORD, context=client_context))

    assert counts == DeliveryCounts(retried=1)
    stored = reload(engine, row.id)
    assert (stored.status, stored.attempts) == (OutboxStatus.PENDING, 1)
    assert stored.next_attempt_at is not None and stored.next_attempt_at > NOW
    assert stored.last_error is not None and "452" in stored.last_error


def test_the_retry_after_a_4xx_is_delivered(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    server.mailbox.rcpt_replies["later@example.org"] = "451 4.3.0 try later"
    row = queue(engine, "k1", recipient="later@example.org")
    transport = SmtpTransport(server.settings(), PASSWORD, context=client_context)
    drain(engine, transport)
    del server.mailbox.rcpt_replies["later@example.org"]

    later = NOW + timedelta(minutes=1)
    counts = drain_outbox(engine, transport, now_fn=lambda: later, sender=SENDER)

    assert counts == DeliveryCounts(sent=1)
    stored = reload(engine, row.id)
    assert (stored.status, stored.attempts, stored.sent_at) == (OutboxStatus.SENT, 2, later)
    assert sent_message(server.mailbox)["Message-ID"] == row.message_id


def test_a_5xx_reply_fails_for_good(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    server.mailbox.rcpt_replies["nobody@example.org"] = "550 5.1.1 no such user"
    row = queue(engine, "k1", recipient="nobody@example.org")

    counts = drain(engine, SmtpTransport(server.settings(), PASSWORD, context=client_context))

    assert counts == DeliveryCounts(failed=1)
    stored = reload(engine, row.id)
    assert (stored.status, stored.attempts) == (OutboxStatus.FAILED, 1)
    assert stored.last_error is not None and "550 5.1.1 no such user" in stored.last_error


def test_a_5xx_reply_to_data_fails_for_good(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    server.mailbox.data_replies["spam@example.org"] = "554 5.7.1 rejected"
    row = queue(engine, "k1", recipient="spam@example.org")

    counts = drain(engine, SmtpTransport(server.settings(), PASSWORD, context=client_context))

    assert counts == DeliveryCounts(failed=1)
    assert reload(engine, row.id).status == OutboxStatus.FAILED


def test_a_wrong_password_fails_for_good(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    row = queue(engine, "k1")

    counts = drain(engine, SmtpTransport(server.settings(), "wrong", context=client_context))

    assert counts == DeliveryCounts(failed=1)
    stored = reload(engine, row.id)
    assert stored.status == OutboxStatus.FAILED
    assert stored.last_error is not None and stored.last_error.startswith("535")
    assert server.mailbox.messages == []


def test_a_partly_refused_message_is_not_sent_again(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    server.mailbox.rcpt_replies["gone@example.org"] = "550 5.1.1 no such user"
    row = queue(engine, "k1", recipient="nurses@example.org, gone@example.org")

    counts = drain(engine, SmtpTransport(server.settings(), PASSWORD, context=client_context))

    assert counts == DeliveryCounts(failed=1)
    assert len(server.mailbox.messages) == 1  # the other recipient has it
    stored = reload(engine, row.id)
    assert stored.status == OutboxStatus.FAILED
    assert stored.last_error is not None and "refused for some recipients: 550" in stored.last_error


# --- failures, classified --------------------------------------------------------------------


def test_nobody_listening_is_temporary() -> None:
    settings = SmtpConfig(host="127.0.0.1", port=free_port(), security="none", timeout_seconds=5)

    with pytest.raises(DeliveryError) as caught:
        SmtpTransport(settings, None).send(EmailMessage())

    assert caught.value.permanent is False
    assert "ConnectionRefusedError" in str(caught.value)


def test_an_untrusted_certificate_is_temporary(start_server: StartServer) -> None:
    server = start_server("starttls")
    message = EmailMessage()
    message["From"], message["To"] = "a@clinic.example", "b@example.org"
    message.set_content("hello")

    with pytest.raises(DeliveryError) as caught:
        SmtpTransport(server.settings(), PASSWORD).send(message)  # default trust store

    assert caught.value.permanent is False
    assert "SSLCertVerificationError" in str(caught.value)
    assert server.mailbox.messages == []


# --- a slow final reply (after the message has been sent) ------------------------------------


def test_a_final_reply_slower_than_the_command_timeout_is_waited_for_and_sent_once(
    engine: Engine, start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server("starttls")
    server.mailbox.reply_after_seconds = 2.5  # longer than timeout_seconds, as in the issue
    settings = server.settings().model_copy(
        update={"timeout_seconds": 1, "final_reply_timeout_seconds": 30}
    )
    transport = SmtpTransport(settings, PASSWORD, context=client_context)
    row = queue(engine, "k1")

    first = drain(engine, transport)
    later = drain_outbox(engine, transport, now_fn=lambda: NOW + timedelta(days=1), sender=SENDER)

    assert (first, later) == (DeliveryCounts(sent=1), DeliveryCounts())
    assert len(server.mailbox.messages) == 1
    stored = reload(engine, row.id)
    assert (stored.status, stored.attempts) == (OutboxStatus.SENT, 1)


def test_no_final_reply_marks_the_message_unconfirmed_and_it_is_never_sent_again(
    engine: Engine, start_server: StartServer
) -> None:
    server = start_server("none")
    server.mailbox.hold_reply = threading.Event()  # keeps the message, never answers in time
    settings = server.settings(username="").model_copy(
        update={"timeout_seconds": 1, "final_reply_timeout_seconds": 1.5}
    )
    transport = SmtpTransport(settings, None)
    row = queue(engine, "k1")

    try:
        counts = drain(engine, transport)
        days_later = [
            drain_outbox(
                engine, transport, now_fn=lambda d=d: NOW + timedelta(days=d), sender=SENDER
            )
            for d in (1, 2, 7)
        ]
    finally:
        server.mailbox.hold_reply.set()

    assert counts == DeliveryCounts(unconfirmed=1)
    assert days_later == [DeliveryCounts()] * 3
    assert len(server.mailbox.messages) == 1  # it did arrive: a blind retry would duplicate it
    stored = reload(engine, row.id)
    assert (stored.status, stored.attempts, stored.claimed_by) == (
        OutboxStatus.UNCONFIRMED,
        1,
        None,
    )
    assert stored.last_error is not None
    assert "did not confirm it" in stored.last_error and "Message-ID" in stored.last_error


class HoldsTheDataCommand(SMTPServer):
    """An aiosmtpd server that does not answer DATA (no 354) until `hold` is set."""

    hold: threading.Event

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        await asyncio.to_thread(self.hold.wait, 120)
        await super().smtp_DATA(arg)


class HoldingController(Controller):
    hold: threading.Event

    def factory(self) -> SMTPServer:
        server = HoldsTheDataCommand(self.handler, **self.SMTP_kwargs)
        server.hold = self.hold
        return server


def test_no_answer_to_the_data_command_is_an_ordinary_retry(engine: Engine) -> None:
    """Before the message's final "." the server cannot have it, so a retry is safe."""
    mailbox, port = Mailbox(), free_port()
    controller = HoldingController(mailbox, hostname="127.0.0.1", port=port)
    controller.hold = threading.Event()
    controller.start()
    settings = SmtpConfig(host="127.0.0.1", port=port, security="none", timeout_seconds=1)
    row = queue(engine, "k1")
    try:
        counts = drain(engine, SmtpTransport(settings, None))
    finally:
        controller.hold.set()
        controller.stop()

    assert counts == DeliveryCounts(retried=1)
    stored = reload(engine, row.id)
    assert (stored.status, stored.attempts) == (OutboxStatus.PENDING, 1)
    assert stored.last_error is not None and "SMTPServerDisconnected" in stored.last_error
    assert mailbox.messages == []


def test_a_long_final_reply_wait_lengthens_the_claim_on_the_row(engine: Engine) -> None:
    settings = SmtpConfig(
        host="127.0.0.1", security="none", timeout_seconds=5, final_reply_timeout_seconds=600
    )
    transport = SmtpTransport(settings, None)

    assert transport.longest_send == timedelta(seconds=5 * SOCKET_WAITS_PER_SEND + 600)
    assert claim_span(transport, timedelta(minutes=5)) == transport.longest_send + CLAIM_MARGIN
