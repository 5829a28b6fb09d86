"""Top-level commands loaded when used, so that `monitor --help` or `monitor overdue` start at once.

The command modules import what their commands need: the web stack, the HL7 and FHIR adapters,
Jinja2, APScheduler, openpyxl, WeasyPrint. Loading them all to build the command line cost about
a second on every call, before the command did anything (issue 15). So the root group knows each
top-level command by its name, the modules that add to it and its one-line help (`LazyCommand`),
and imports those modules only when the command is run or its own `--help` is asked for.
`tests/cli/test_startup.py` holds the table to the commands themselves (names, modules, help)
and checks, in a fresh interpreter, what `monitor --help` and `monitor overdue` import.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """Where a top-level command comes from, and what `monitor --help` says of it."""

    modules: tuple[str, ...]  # the `monitor.cli` submodules whose `register` adds to it
    help: str  # its help's first sentence, as the command's own docstring or group says it


class CommandLoader:
    """Imports command modules on demand, each once per process, onto one Typer app."""

    def __init__(self, table: Mapping[str, LazyCommand], **typer_options: Any) -> None:
        self.table = table
        self._app = typer.Typer(**typer_options)
        self._app.callback()(_group_of_every_loaded_command)
        self._registered: set[str] = set()
        self._loaded: dict[str, Any] = {}

    def load(self, name: str) -> Any:
        """The click command for `name`, importing the modules that add to it if need be."""
        if name not in self._loaded:
            for module in self.table[name].modules:
                self._register(module)
            self._loaded[name] = self.group().commands[name]
        return self._loaded[name]

    def group(self) -> TyperGroup:
        """Every command loaded so far, as one click group."""
        group = typer.main.get_command(self._app)
        assert isinstance(group, TyperGroup)  # the callback makes it one
        return group

    def load_every_module(self) -> None:
        """Import and register every module in the table (tests, and nothing else)."""
        for entry in self.table.values():
            for module in entry.modules:
                self._register(module)

    def _register(self, module: str) -> None:
        if module not in self._registered:
            importlib.import_module(f"monitor.cli.{module}").register(self._app)
            self._registered.add(module)


def _group_of_every_loaded_command() -> None:
    """A callback, so that Typer always makes a group of the loaded commands."""


class CommandTable(MutableMapping[str, Any]):
    """A group's commands: the ones built eagerly, then the loader's names, loaded when read."""

    def __init__(self, eager: MutableMapping[str, Any], loader: CommandLoader) -> None:
        self._eager = eager
        self._loader = loader

    def __getitem__(self, name: str) -> Any:
        if name in self._eager:
            return self._eager[name]
        if name not in self._loader.table:
            raise KeyError(name)
        return self._loader.load(name)

    def __setitem__(self, name: str, command: Any) -> None:
        self._eager[name] = command

    def __delitem__(self, name: str) -> None:
        del self._eager[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._eager
        yield from (name for name in self._loader.table if name not in self._eager)

    def __len__(self) -> int:
        return len(set(self._eager) | set(self._loader.table))


class LazyGroup(TyperGroup):
    """The root group: lists every command from the table, loads one when it is used."""

    loader: CommandLoader  # set by `lazy_group_class`

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.commands = CommandTable(self.commands, self.loader)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of `--help`, from the table's help: nothing is imported for it."""
        shown: dict[str, Any] = {
            name: TyperCommand(name=name, help=self._listed_help(name)) for name in self.commands
        }
        TyperGroup(commands=shown, rich_markup_mode=None).format_commands(ctx, formatter)

    def _listed_help(self, name: str) -> str:
        entry = self.loader.table.get(name)
        return entry.help if entry is not None else str(self.commands[name].help or "")


def lazy_group_class(loader: CommandLoader) -> type[LazyGroup]:
    """A LazyGroup class bound to `loader` (Typer builds the group from a class, not an object)."""
    return type("MonitorCommands", (LazyGroup,), {"loader": loader})
