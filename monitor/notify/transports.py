"""Where a built message goes: an SMTP server, a folder of .eml files, or the console (SPEC §5).

A transport either returns (the message was handed over) or raises `DeliveryError`, which says
whether trying again later can help. SMTP replies are classified by their code: 5xx is permanent,
4xx (greylisting, a full queue) and network or TLS trouble are temporary. The outbox decides what
to do with that; transports never touch the database.

One SMTP moment is neither: once the message and its terminating "." are sent, the server may
already have taken responsibility for it (RFC 5321 §6.1) and only its reply is missing. So the
reply to the "." gets its own, long wait (RFC 5321 §4.5.3.2.6: 10 minutes), and if the
connection times out or drops before it comes, `DeliveryUnconfirmed` says so: sending again could
deliver a second copy, so a person decides.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import sys
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from monitor import clock
from monitor.config import Config, ConfigError, SmtpConfig

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class DeliveryError(Exception):
    """The message was not delivered; `permanent` says whether a retry can help.

    `code` is the SMTP reply code when there was one; it is safe to log (the message text may
    quote an address, so log the code and the outbox id only).
    """

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class DeliveryUnconfirmed(DeliveryError):
    """The whole message was sent but the server's reply never came: it may have arrived.

    Never retried on its own (`permanent` is True): the outbox marks the row for a person to check
    the mail server's log for the Message-ID.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class TransportError(ConfigError):
    """The configured transport cannot be set up (the SMTP password is missing, the file
    transport's folder cannot be made): a configuration error, exit 2 before anything is sent."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


# Socket waits in one submission besides the final reply: connect, greeting, EHLO, STARTTLS and
# its handshake, EHLO, AUTH, MAIL, DATA, the body, QUIT, and about 20 RCPTs.
SOCKET_WAITS_PER_SEND = 30


class SmtpTransport:
    """Submit each message to the clinic's mail server on its own connection.

    Every connection step and command waits up to `timeout_seconds`; the reply to the end of the
    message waits up to `final_reply_timeout_seconds` (see the module docstring).
    """

    def __init__(
        self,
        settings: SmtpConfig,
        password: str | None,
        *,
        context: ssl.SSLContext | None = None,
    ) -> None:
        if settings.username and not password:
            raise TransportError(
                "email.smtp.username is set but MONITOR_SMTP_PASSWORD is not in the environment "
                "(set it, or leave username empty for a server that needs no login)"
            )
        self._settings = settings
        self._password = password or ""
        self._context = context

    @property
    def longest_send(self) -> timedelta:
        """An upper bound on one `send`: the outbox's claim on a row must outlast it."""
        settings = self._settings
        waits = settings.timeout_seconds * SOCKET_WAITS_PER_SEND
        return timedelta(seconds=waits + settings.final_reply_timeout_seconds)

    def send(self, message: EmailMessage) -> None:
        try:
            refused = self._submit(message)
        except DeliveryUnconfirmed:
            raise
        except smtplib.SMTPRecipientsRefused as error:
            raise _refused(error.recipients, everyone=True) from None
        except smtplib.SMTPResponseException as error:
            raise _reply_error(error.smtp_code, error.smtp_error) from None
        except (smtplib.SMTPException, OSError) as error:
            # SMTPServerDisconnected, ConnectionError, TimeoutError and ssl.SSLError are all
            # OSErrors; none says anything about this message, so try again later.
            raise DeliveryError(_describe(error), permanent=False) from None
        if refused:
            # Some recipients took it; sending again would duplicate it for them.
            raise _refused(refused, everyone=False)

    def _submit(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        smtp = self._connect()
        try:
            if self._settings.username:
                smtp.login(self._settings.username, self._password)
            return smtp.send_message(message)
        finally:
            _close_quietly(smtp)

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        timeout, final = settings.timeout_seconds, settings.final_reply_timeout_seconds
        if settings.security == "ssl":
            secure = _SmtpSslClient(
                settings.host, settings.port, timeout=timeout, context=self._tls_context()
            )
            secure.final_reply_timeout = final
            return secure
        smtp = _SmtpClient(settings.host, settings.port, timeout=timeout)
        smtp.final_reply_timeout = final
        if settings.security == "starttls":
            try:
                smtp.ehlo()
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _tls_context(self) -> ssl.SSLContext:
        return self._context or ssl.create_default_context()


class _SmtpClient(smtplib.SMTP):
    """smtplib's client, with the reply to the end of the message waited for separately.

    Only `data` differs from smtplib's: the same DATA command, 354 check and dot-stuffed body
    (RFC 5321 §4.5.2), then the socket's timeout is raised to `final_reply_timeout` for the one
    reply that says whether the server took the message. A timeout or a dropped connection
    before that reply raises `DeliveryUnconfirmed`; one before the "." was sent stays an ordinary
    network error (the server cannot have the message, so a retry is safe).
    """

    final_reply_timeout: float = 600.0  # set by SmtpTransport from the configuration

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        # `sendmail` (and so `send_message`) always passes bytes with CRLF line ends.
        body = msg.encode("ascii") if isinstance(msg, str) else bytes(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        self.send(_terminated(body))
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("the connection closed while sending")
        self.sock.settimeout(self.final_reply_timeout)
        try:
            return self.getreply()
        except smtplib.SMTPServerDisconnected as error:
            raise DeliveryUnconfirmed(
                f"the message was sent but the server did not confirm it ({_describe(error)}); "
                "it may have been delivered: check the mail server's log for its Message-ID"
            ) from None
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)


class _SmtpSslClient(smtplib.SMTP_SSL, _SmtpClient):
    """Implicit TLS (`security = "ssl"`) with the same final-reply wait."""


def _terminated(body: bytes) -> bytes:
    """The body dot-stuffed and ended with CRLF "." CRLF, as smtplib's own `data` sends it."""
    stuffed = re.sub(rb"(?m)^\.", b"..", body)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _close_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT, ignoring a failure: once the server accepted the message, the outcome is known."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply_error(code: int, text: bytes | str) -> DeliveryError:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return DeliveryError(f"{code} {reply}".strip(), permanent=code >= 500, code=code)


def _refused(recipients: dict[str, tuple[int, bytes]], *, everyone: bool) -> DeliveryError:
    codes = [code for code, _ in recipients.values()]
    replies = "; ".join(
        f"{code} {reply.decode('utf-8', 'replace')}" for code, reply in recipients.values()
    )
    worst = max(codes, default=550)
    if not everyone:
        return DeliveryError(f"refused for some recipients: {replies}", permanent=True, code=worst)
    # Every recipient refused: nobody has it, so a temporary refusal (greylisting) is retried.
    return DeliveryError(f"recipients refused: {replies}", permanent=worst >= 500, code=worst)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileTransport:
    """Write each message as `<UTC timestamp>-<message id>.eml` into a folder (SPEC §5).

    The bytes are exactly what SMTP would carry: CRLF line ends (RFC 5322 §2.1), so the .ics
    inside keeps the CRLF content lines RFC 5545 §3.1 requires, and a mail client or a pickup
    folder reads the file as sent.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage) -> None:
        stamp = clock.now_utc().strftime("%Y%m%dT%H%M%S%fZ")
        ident = _UNSAFE.sub("_", str(message.get("Message-ID", "")).strip("<> ")) or "message"
        target = self.folder / f"{stamp}-{ident[:150]}.eml"
        temporary = target.with_name(f".{target.name}.tmp")
        data = message.as_bytes(policy=SMTP_POLICY)
        try:
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise DeliveryError(_describe(error), permanent=False) from None


class ConsoleTransport:
    """Print the headers and the plain-text part (never the HTML): for trying things out."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, message: EmailMessage) -> None:
        stream = self._stream or sys.stdout
        for name, value in message.items():
            if name.lower() not in ("content-type", "mime-version", "content-transfer-encoding"):
                stream.write(f"{name}: {value}\n")
        body = message.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if isinstance(body, EmailMessage) else ""
        stream.write(f"\n{text.rstrip()}\n")
        for part in message.iter_attachments():
            stream.write(f"[attachment: {part.get_filename()}]\n")
        stream.write("-" * 72 + "\n")
        stream.flush()


def make_transport(config: Config) -> Transport:
    """The transport `[email] transport` names; raises TransportError if it cannot be set up."""
    email = config.email
    if email.transport == "smtp":
        return SmtpTransport(email.smtp, config.smtp_password)
    if email.transport == "console":
        return ConsoleTransport()
    try:
        return FileTransport(Path(email.file_dir))
    except OSError as error:
        raise TransportError(f"[email] file_dir {email.file_dir!r}: {error.strerror}") from None
