"""Alembic driven from code, so `monitor db upgrade` works from any folder after `pip install`."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from monitor.resources import resource_path
from monitor.store.schema_version import current_revision, is_at_head

__all__ = ["current_revision", "downgrade", "head_revision", "is_at_head", "upgrade"]


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(resource_path("migrations")))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def head_revision(engine: Engine) -> str | None:
    """The newest revision among the migration scripts (`schema_version.HEAD_REVISION` is it)."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
