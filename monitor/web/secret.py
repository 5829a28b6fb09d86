"""The key that signs session cookies: $MONITOR_WEB_SECRET, else one generated and kept.

Generating it once and keeping it in the `settings` table means a restart does not sign every
nurse out, and two worklist processes on one database share it. It never goes in config.toml.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from monitor.config import ConfigError
from monitor.store.db import unit_of_work
from monitor.store.models import Setting

SECRET_VARIABLE = "MONITOR_WEB_SECRET"
SECRET_KEY = "web.session_secret"
MIN_SECRET_LENGTH = 32


def session_secret(engine: Engine) -> str:
    """The signing key: from the environment, else the stored one (made on first use)."""
    given = os.environ.get(SECRET_VARIABLE, "")
    if given:
        if len(given) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"{SECRET_VARIABLE} must have at least {MIN_SECRET_LENGTH} characters"
            )
        return given
    stored = _stored(engine)
    if stored is not None:
        return stored
    try:
        with unit_of_work(engine) as session:
            session.add(Setting(key=SECRET_KEY, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass  # another process made it first: use theirs
    stored = _stored(engine)
    assert stored is not None
    return stored


def _stored(engine: Engine) -> str | None:
    with unit_of_work(engine) as session:
        return session.scalar(select(Setting.value).where(Setting.key == SECRET_KEY))
