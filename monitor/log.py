"""Logging set-up: one line per event, text or JSON, at the configured level.

Our own log lines (`monitor.<area>`) carry internal ids (patient_id=42, outbox_id=7) and counts,
never a name, an email address, a date of birth or a result value. Libraries do not follow that
rule: the `hl7` package logs the field it could not unescape (an MRN, a result), SQLAlchemy's
engine logs every statement with its parameters, uvicorn's access log has paths and query
strings, and exception texts quote the data that caused them. So every third-party record goes
through `LIBRARY_LOGGERS`: a level floor that `[logging] level` cannot lower, and its content
withheld unless that library's arguments are known to be only our own names and numbers. A
logger not in the table is treated as strictly as the strictest entry (the root handler).
A logged traceback keeps its frames and each exception's type but never an exception's message:
a database error's holds the SQL parameters (an MRN, a value), an SMTP error's the recipients.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, TextIO, TypeAlias

from monitor.store.faults import error_summary

if TYPE_CHECKING:
    from monitor.config import LoggingConfig

ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
)

OWN_LOGGER = "monitor"
NEVER = logging.CRITICAL + 1
WITHHELD = "<withheld>"
# A %-style placeholder of a logging call (`%s`, `%r`, `%d`, `%(name)s`, `%.3f`, ...).
_PLACEHOLDER = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa]"
)


def hl7_logger_names() -> tuple[str, ...]:
    """The hl7 package's logger names: the paths of its `util.py` and `containers.py`.

    Found from where the package lies, not by importing it: every command guards the logs, and
    only the commands that read HL7 should pay for loading it (issue 15).
    """
    spec = importlib.util.find_spec("hl7")
    if spec is None or spec.origin is None:
        return ()
    folder = os.path.dirname(spec.origin)
    return tuple(os.path.join(folder, file) for file in ("util.py", "containers.py"))


@dataclass(frozen=True)
class LibraryLogger:
    """How one third-party logger's records reach the log.

    `floor`: nothing below it is written, whatever `[logging] level` says. `arguments_safe`:
    the library's arguments are only our own job names, revision ids and numbers, so they are
    shown; otherwise the message template is shown with each argument withheld, a message the
    library formatted itself is withheld whole, and an exception is reduced to its type.
    """

    name: str
    floor: int = logging.WARNING
    arguments_safe: bool = False


LIBRARY_LOGGERS: tuple[LibraryLogger, ...] = (
    # Job names and run times are ours; an exception raised in a job can carry anything.
    LibraryLogger("apscheduler", arguments_safe=True),
    # Revision ids and table names.
    LibraryLogger("alembic", arguments_safe=True),
    # sqlalchemy.engine at INFO is every statement with its parameters (MRNs, values).
    LibraryLogger("sqlalchemy"),
    # The server's error text quotes rows ("DETAIL: Key (mrn)=(...)").
    LibraryLogger("psycopg"),
    # uvicorn.error: exception text, and the path of a refused websocket upgrade.
    LibraryLogger("uvicorn"),
    # One line per request: paths and query strings carry MRNs. Never written.
    LibraryLogger("uvicorn.access", floor=NEVER),
    # Form parsing warnings quote the bytes they choke on (a password, an MRN).
    LibraryLogger("python_multipart"),
    LibraryLogger("multipart"),
    # The MLLP listener's event loop: its messages embed reprs of tasks and their data.
    LibraryLogger("asyncio"),
    # The hl7 package names its loggers after its own files (`getLogger(__file__)`) and logs
    # the whole field it could not unescape (`RX00001\Zq\` in PID-3, a value in OBX-5).
    *(LibraryLogger(name) for name in hl7_logger_names()),
)


# Any other logger, through the root: as strict as the strictest library above.
OTHER_LIBRARIES = LibraryLogger("")


class CurrentStderr(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time of the record (as `logging.lastResort`
    does), so a handler set up once never writes to a stream that was swapped and closed."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """StreamHandler.setStream assigns it; the current stderr is always used."""


class QuietTracebacks(logging.Formatter):
    """Formats tracebacks without exception messages (see the module's docstring)."""

    def formatException(self, ei: ExcInfo) -> str:
        return quiet_traceback(ei[1])

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached the full traceback text on the record.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached


def quiet_traceback(error: BaseException | None) -> str:
    """The traceback of `error` and of the exceptions that led to it, messages withheld."""
    chain: list[BaseException] = []
    while error is not None and all(error is not seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    parts: list[str] = []
    for link in reversed(chain):
        if parts:
            parts.append("\nwhich led to:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(link.__traceback__))
        parts.append(f"{error_summary(link)} (message withheld)\n")
    return "".join(parts).rstrip("\n")


class JsonFormatter(QuietTracebacks):
    """One JSON object per line: time (UTC), level, logger, message, and exception text."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class LibraryFilter(logging.Filter):
    """Lets a library's record through only at or above its floor and the configured level."""

    def __init__(self, library: LibraryLogger, level: int) -> None:
        super().__init__()
        self.library, self.level = library, level

    def filter(self, record: logging.LogRecord) -> bool:
        if is_own(record):
            return record.levelno >= self.level
        return record.levelno >= max(self.library.floor, self.level)


class WithholdingFormatter(logging.Formatter):
    """Formats a copy of a library's record with its content withheld (the record itself is
    left alone: other handlers, such as a test's capture, see it as it was)."""

    def __init__(self, inner: logging.Formatter, library: LibraryLogger) -> None:
        super().__init__()
        self.inner, self.library = inner, library

    def format(self, record: logging.LogRecord) -> str:
        if is_own(record):
            return self.inner.format(record)
        return self.inner.format(withheld_copy(record, arguments_safe=self.library.arguments_safe))


def is_own(record: logging.LogRecord) -> bool:
    return record.name == OWN_LOGGER or record.name.startswith(OWN_LOGGER + ".")


def withheld_copy(record: logging.LogRecord, *, arguments_safe: bool) -> logging.LogRecord:
    """The record as it may be written: the exception reduced to its type (exception text
    quotes data), and, unless the arguments are safe, every argument withheld."""
    copy = logging.makeLogRecord(record.__dict__)
    copy.exc_info, copy.exc_text, copy.stack_info = None, None, None
    if not arguments_safe:
        copy.msg, copy.args = withheld_message(record), None
    else:
        copy.msg, copy.args = record.getMessage(), None
    kind = record.exc_info[0] if record.exc_info else None
    if kind is not None:
        copy.msg = f"{copy.msg} ({kind.__name__}; its text withheld)"
    return copy


def withheld_message(record: logging.LogRecord) -> str:
    """The template with each argument withheld; a message without arguments was formatted by
    the library itself, so it may hold anything: it is withheld whole, with where it came from."""
    if record.args and isinstance(record.msg, str):
        return _PLACEHOLDER.sub(WITHHELD, record.msg).replace("%%", "%")
    return f"message withheld (from {record.module}.{record.funcName}, line {record.lineno})"


def configure_logging(settings: LoggingConfig) -> None:
    """The service's logging: our records at the configured level, the libraries' through
    their policy, all in the configured format on stderr."""
    plain = _formatter(settings.format)
    level = logging.getLevelName(settings.level)
    own = logging.getLogger(OWN_LOGGER)
    own.handlers[:] = [_handler(plain, OTHER_LIBRARIES, logging.NOTSET)]
    own.setLevel(level)
    own.propagate = False
    route_library_logging(plain, level)


def guard_library_logging() -> None:
    """For every command, before anything logs: library records never reach stderr with their
    content, even in commands that do not configure logging (`monitor import` parses HL7)."""
    route_library_logging(_formatter("text"), logging.WARNING)


def route_library_logging(plain: logging.Formatter, level: int) -> None:
    """One handler per library logger (propagation off), and one on the root for the rest."""
    for library in LIBRARY_LOGGERS:
        logger = logging.getLogger(library.name)
        logger.handlers[:] = [_handler(plain, library, level)]
        logger.setLevel(max(library.floor, level))
        logger.propagate = False
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, CurrentStderr)] + [
        _handler(plain, OTHER_LIBRARIES, level)
    ]


def _handler(plain: logging.Formatter, library: LibraryLogger, level: int) -> CurrentStderr:
    handler = CurrentStderr()
    handler.setFormatter(WithholdingFormatter(plain, library))
    handler.addFilter(LibraryFilter(library, level))
    return handler


def _formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter()
    return QuietTracebacks("%(asctime)s %(levelname)s %(name)s: %(message)s")
