"""Logging set-up: one line per event, text or JSON, at the configured level.

Log lines carry internal ids (patient_id=42, outbox_id=7) and counts, never a name, an email
address, a date of birth or a result value. Loggers are `monitor.<area>`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from monitor.config import LoggingConfig

LIBRARY_LOGGERS = ("apscheduler", "sqlalchemy")


class JsonFormatter(logging.Formatter):
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
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
