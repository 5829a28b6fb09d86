"""The key that signs session cookies: $MONITOR_WEB_SECRET, else one generated and kept.

Generating it once and keeping it in the `settings` table means a restart does not sign every
nurse out, and two worklist processes on one database share it. It never goes in config.toml.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import Engine

from monitor.config import ConfigError
from monitor.services.settings import kept_value

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
    return kept_value(engine, SECRET_KEY, lambda: secrets.token_urlsafe(48))
