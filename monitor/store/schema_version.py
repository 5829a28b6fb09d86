"""Which schema revision a database is at, from one row, without loading Alembic.

Every command checks the revision before it touches the database, and Alembic's way of asking
(its script directory) reads and compiles every migration script first: a large part of what a
command cost before it did anything (issue 15). The newest revision is therefore written down
here once; `tests/store/test_migrations.py` holds it to the scripts' own head, so a new migration
that forgets to move it fails there.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

HEAD_REVISION = "0015_report_index"
VERSION_TABLE = "alembic_version"


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: no schema yet)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        revision = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        return None if revision is None else str(revision)


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == HEAD_REVISION
