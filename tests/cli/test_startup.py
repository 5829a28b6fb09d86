"""A command imports only what it uses (issue 15, item 1).

`monitor --help` and `monitor overdue` run in a fresh interpreter, which then lists the modules
it loaded: neither may load the web stack, the HL7 adapter, Jinja2, APScheduler, css-inline,
openpyxl or Alembic. The table of lazily loaded commands (`monitor.cli.COMMANDS`) is held to the
commands themselves: the same names, every module that adds to a command, the same help.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.core import TyperCommand

from monitor.cli import COMMANDS, LOADER
from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
NEVER_AT_START = ("starlette", "uvicorn", "hl7", "apscheduler", "jinja2", "css_inline")
NOT_FOR_OVERDUE = (*NEVER_AT_START, "alembic", "openpyxl", "weasyprint", "icalendar", "httpx")

# Runs the real entry point, then writes the names of the modules it loaded to $MODULES_OUT.
RUN_AND_LIST = """
import json, os, sys
from monitor.cli import main
sys.argv = ["monitor", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
with open(os.environ["MODULES_OUT"], "w") as out:
    json.dump(sorted(sys.modules), out)
"""


def loaded_modules(tmp_path: Path, *args: str) -> tuple[set[str], str]:
    """The top-level packages a fresh `monitor ARGS` loaded, and what it printed."""
    listing = tmp_path / "modules.json"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    environment |= {"PYTHONPATH": str(REPO), "MODULES_OUT": str(listing)}
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    names = json.loads(listing.read_text())
    return {name.split(".")[0] for name in names}, result.stdout


def test_help_lists_every_command_and_loads_none_of_them(tmp_path):
    packages, shown = loaded_modules(tmp_path, "--help")

    assert all(name in shown for name in COMMANDS)
    assert packages.isdisjoint(NOT_FOR_OVERDUE), sorted(packages & set(NOT_FOR_OVERDUE))
    assert "monitor" in packages  # the check looks at the right process


def test_overdue_loads_neither_the_web_nor_hl7_nor_the_mail_stack(tmp_path, engine):
    url = engine.url.render_as_string(hide_password=False)
    packages, shown = loaded_modules(tmp_path, "--database", url, "overdue", "--json")

    assert json.loads(shown) == []
    assert packages.isdisjoint(NOT_FOR_OVERDUE), sorted(packages & set(NOT_FOR_OVERDUE))
    assert "sqlalchemy" in packages


def test_a_command_that_needs_hl7_still_gets_it(tmp_path):
    packages, _ = loaded_modules(tmp_path, "listen-hl7", "--help")

    assert "hl7" in packages


# --- the table against the commands ---------------------------------------------------------


@pytest.fixture(scope="module")
def every_command() -> dict[str, object]:
    LOADER.load_every_module()
    return dict(LOADER.group().commands)


def test_the_table_names_every_command_and_nothing_else(every_command):
    assert set(every_command) == set(COMMANDS)


def test_the_table_lists_every_module_that_adds_to_a_command(every_command):
    """A module adding `patient x` but missing from the table's `patient` entry would make
    `monitor patient x` exist only when another command had happened to load it first."""
    for name, command in every_command.items():
        children = getattr(command, "commands", {name: command})
        modules = {_module_of(child) for child in children.values()}
        assert modules <= {f"monitor.cli.{module}" for module in COMMANDS[name].modules}, name


def test_every_command_module_is_in_the_table():
    listed = {module for entry in COMMANDS.values() for module in entry.modules}
    registering = {
        path.stem
        for path in (REPO / "monitor" / "cli").glob("*.py")
        if "\ndef register(" in path.read_text()
    }
    assert registering == listed


@pytest.mark.parametrize("width", [45, 60, 80, 120])
def test_help_listed_from_the_table_is_the_commands_own(every_command, width):
    for name, command in every_command.items():
        listed = TyperCommand(name=name, help=COMMANDS[name].help)
        assert listed.get_short_help_str(width) == command.get_short_help_str(width), name


def test_a_mistyped_command_is_refused_with_its_name(cli: Cli):
    result = cli("overdew")

    assert result.code == 2
    assert "overdew" in result.err


def _module_of(command: object) -> str:
    callback = getattr(command, "callback", None)
    wrapped = getattr(callback, "__wrapped__", callback)
    return str(getattr(wrapped, "__module__", ""))
