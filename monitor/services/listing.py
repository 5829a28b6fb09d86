"""What the read functions share: the cap on lists that can grow without bound.

Lists of that kind (audit, outbox, flags, quarantine, a patient's emails) return at most `LIMIT`
rows, newest first, and the screen says so; filters narrow them down.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

LIMIT = 500
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


def where_equal(query: _S, column: Any, value: object | None) -> _S:
    """`query` narrowed to `column == value`, or unchanged when the filter is not set (None)."""
    return query if value is None else query.where(column == value)
