"""Values the program makes once and keeps for itself in the `settings` table.

The web's cookie-signing key is one: made on first use and kept, so a restart does not sign
every nurse out and two worklist processes on one database share it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from monitor.store.db import unit_of_work
from monitor.store.models import Setting


def kept_value(engine: Engine, key: str, make: Callable[[], str]) -> str:
    """The value kept under `key`; on first use, `make`'s, stored in its own transaction.

    Two processes making it at once both end up with the one stored first.
    """
    stored = _stored(engine, key)
    if stored is not None:
        return stored
    try:
        with unit_of_work(engine) as session:
            session.add(Setting(key=key, value=make()))
    except IntegrityError:
        pass  # another process made it first: use theirs
    stored = _stored(engine, key)
    assert stored is not None
    return stored


def _stored(engine: Engine, key: str) -> str | None:
    with unit_of_work(engine) as session:
        return session.scalar(select(Setting.value).where(Setting.key == key))
