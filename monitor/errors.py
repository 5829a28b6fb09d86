"""Errors that every layer understands.

`InvalidInput` is the user's mistake (exit code 2, nothing written); anything else is ours
(exit code 1). The message always names the field or value at fault, never a patient's
name or result value in a log line (the CLI prints it to the user who typed it).
"""


class MonitorError(Exception):
    """Base class for errors the program reports to its user."""


class InvalidInput(MonitorError):
    """Input that breaks a rule; the operation is refused and nothing is written."""


class NotFound(InvalidInput):
    """An MRN, flag id or slot that does not exist (SPEC §9: exit 2)."""
