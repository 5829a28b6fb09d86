"""Every command's `--help` says what its docstring and option help say (issue 10, item 7).

Rich markup used to swallow `[protocol]`, `[hl7]` and `[web]` (`monitor db rebuild --help` read
"run after changing  in config.toml") and flags were shown as `--json <bool>`.
"""

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from monitor.cli import app

BRACKETED = re.compile(r"\[[^\]\s]+\]")


def every_command() -> list[tuple[list[str], Any]]:
    """(path, command) for the root, every group and every command under them."""
    found: list[tuple[list[str], Any]] = []

    def walk(path: list[str], command: Any) -> None:
        found.append((path, command))
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            for name, child in sorted(command.commands.items()):
                walk([*path, name], child)

    walk([], typer.main.get_command(app))
    return found


COMMANDS = every_command()


def written_help(command: Any) -> str:
    """The help the code gives: the docstring or help and every parameter's help."""
    parts = [command.help or ""]
    parts += [getattr(param, "help", None) or "" for param in command.params]
    return " ".join(parts)


def rendered_help(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_the_walk_finds_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"db rebuild", "listen-hl7", "serve", "quarantine retry", "user add"} <= names
    assert len(names) > 30


def test_the_commands_that_lost_words_have_bracketed_words():
    """So the test below checks something: these are the ones the issue names."""
    by_name = {" ".join(path): written_help(command) for path, command in COMMANDS}
    assert "[protocol]" in by_name["db rebuild"]
    assert "[hl7]" in by_name["listen-hl7"]
    assert "[web]" in by_name["serve"]


def command_name(path: list[str]) -> str:
    return " ".join(["monitor", *path])


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[command_name(p) for p, _ in COMMANDS])
def test_no_help_loses_a_bracketed_word_or_calls_a_flag_a_bool(path, command):
    shown = rendered_help(path)
    lost = [word for word in BRACKETED.findall(written_help(command)) if word not in shown]
    assert lost == [], shown
    assert "<bool>" not in shown
