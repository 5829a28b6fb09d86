"""Logging set-up: one line per event, text or JSON, at the configured level.

Log lines carry internal ids (patient_id=42, outbox_id=7) and counts, never a name, an email
address, a date of birth or a result value. Loggers are `monitor.<area>`. A logged traceback keeps
its frames and each exception's type but never an exception's message: a database error's holds
the SQL parameters (an MRN, a value), an SMTP error's the recipients.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeAlias

from monitor.config import LoggingConfig
from monitor.store.faults import error_summary

ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
)

LIBRARY_LOGGERS = ("apscheduler", "sqlalchemy")


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


def configure_logging(settings: LoggingConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(QuietTracebacks("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("monitor")
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    root.propagate = False
    # The libraries the daemon runs on report their own trouble (a job APScheduler could not
    # start, a connection SQLAlchemy could not close): same handler, so same format, warnings up.
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers[:] = [handler]
        library.setLevel(max(logging.WARNING, root.level))
        library.propagate = False
