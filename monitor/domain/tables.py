"""Reading a parsed TOML table key by key, each refusal naming its key path.

The protocol definitions (`domain.phases`) are read with these: every value's type and range is
checked (strict: `true` is not the number 1, `7.0` not the whole number 7) and an error is a
`ProtocolError` whose `path` is the key (`protocols.natalizumab.panels.jcv.phases[1].until`);
the configuration adds the file's name when it reports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.domain.fields import PANEL_LENGTH, line_problem
from monitor.errors import InvalidInput


class ProtocolError(InvalidInput):
    """A protocol definition that cannot be used: `path` is the key, `problem` what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


NAME = re.compile(r"[a-z][a-z0-9_]*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def key_path(where: str, key: object) -> str:
    """`where.key`, the key quoted when a file could have put anything in it."""
    text = str(key)
    return f"{where}.{text}" if _PLAIN_KEY.fullmatch(text) else f"{where}.{text[:60]!r}"


def check_name(name: str, where: str, what: str) -> None:
    """A protocol id or panel name: `[a-z][a-z0-9_]*`, as long as the slots table keeps."""
    if not NAME.fullmatch(name) or len(name) > PANEL_LENGTH:
        raise ProtocolError(
            where, f"{what} must be a lower-case letter then up to {PANEL_LENGTH - 1} of a-z 0-9 _"
        )


def check_table(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise ProtocolError(path, "must be a table")


def check_keys(table: Any, known: Sequence[str], where: str) -> None:
    check_table(table, where)
    for key in table:
        if key not in known:
            raise ProtocolError(key_path(where, key), f"unknown key; known: {', '.join(known)}")


def read_int(
    table: Mapping[str, Any], key: str, where: str, low: int, high: int, default: int
) -> int:
    """`table[key]`, a whole number in `low..high` (not a boolean), or `default` when absent."""
    return default if key not in table else _whole(table[key], key_path(where, key), low, high)


def read_optional_int(
    table: Mapping[str, Any], key: str, where: str, low: int, high: int, default: int | None
) -> int | None:
    """As `read_int`, for a key whose absence means None (or another default)."""
    return default if key not in table else _whole(table[key], key_path(where, key), low, high)


def _whole(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(path, f"must be a whole number from {low} to {high}")
    return value


def read_bool(table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(key_path(where, key), "must be true or false")
    return value


def read_text(table: Mapping[str, Any], key: str, where: str, max_length: int, default: str) -> str:
    value = table.get(key, default)
    problem = "must be text" if not isinstance(value, str) else line_problem(value, max_length)
    if problem is not None:
        raise ProtocolError(key_path(where, key), problem)
    return str(value).strip()


def read_choice(
    table: Mapping[str, Any], key: str, where: str, allowed: list[str], default: str | None
) -> Any:
    """`table[key]`, one of the `allowed` texts exactly, or `default` when absent."""
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, str) or value not in allowed:
        quoted = " or ".join(repr(a) for a in allowed)
        raise ProtocolError(key_path(where, key), f"must be {quoted}, not {repr(value)[:40]}")
    return value
