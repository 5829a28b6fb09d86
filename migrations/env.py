"""Alembic environment: runs on the engine `monitor.store.migrate` hands over.

SQLite gets batch mode (move-and-copy ALTERs) with foreign keys off while migrating; the
app's own connections keep them on.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from monitor.store.models import Base
from monitor.store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our UTC type as the plain column it is, so migrations never import the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    engine: Engine = config.attributes["engine"]
    is_sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if is_sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=is_sqlite,
                compare_type=True,
                render_item=_render_item,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if is_sqlite:
                connection.rollback()  # nothing is left open; the PRAGMA needs no transaction
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    """Through the driver: SQLite ignores this PRAGMA inside a transaction, and SQLAlchemy would
    open one (`BEGIN IMMEDIATE`, see `store.db`). With them on, copying a table that other rows
    reference (batch mode's move-and-copy) fails when it drops the old table."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; use `monitor db upgrade`")
run_migrations_online()
