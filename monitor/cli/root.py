"""What the root command needs before any command module is loaded (monitor/cli/lazy.py).

`monitor --help` imports this and the table of commands, and nothing that talks to a database,
reads the configuration or renders a message: the options are kept as typed, and
`context.state` turns them into the configuration and the engine when a command first asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer


@dataclass(frozen=True)
class GlobalOptions:
    """`--config` and `--database`, as the root command read them."""

    config_path: Path | None = None
    database_url: str | None = None


def command_group(help_text: str, **options: Any) -> typer.Typer:
    """A group of commands whose `--help` prints the help as written.

    Typer's Rich help reads `[protocol]` or `[hl7]` as markup and drops it, and shows every flag
    as `<bool>`; the plain help keeps both right (tests/cli/test_help.py).
    """
    return typer.Typer(help=help_text, rich_markup_mode=None, **options)
