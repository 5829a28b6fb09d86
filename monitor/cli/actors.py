"""Who a command's change is audited under."""

from __future__ import annotations

from monitor.cli.context import cli_actor
from monitor.domain.fields import PERSON_LENGTH, checked_line


def actor_named(by: str | None) -> str:
    """`cli:<--by>` when the nurse gives her name (the account running the command may be
    shared by a team), else `cli_actor()` (`cli:<login>`)."""
    if by is None:
        return cli_actor()
    return f"cli:{checked_line(by, '--by', PERSON_LENGTH - 4)}"
