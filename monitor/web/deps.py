"""What every page needs from the app: configuration, database, clock, the signed-in user.

Pages take `today` and `now` from here (never from the wall clock directly), so tests can move
the worklist's clock, and the configuration is read once when the app is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request

from monitor.config import Config
from monitor.domain.vocabulary import UserRole
from monitor.store.db import unit_of_work


@dataclass(frozen=True)
class WebDeps:
    config: Config
    engine: Engine
    now: Callable[[], datetime]
    today: Callable[[], date]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction (committed when the block ends, rolled back if it raises)."""
        with unit_of_work(self.engine, self.config.catalogue) as session:
            yield session


@dataclass(frozen=True)
class WebUser:
    """The signed-in user as the pages see it (a plain value, not an ORM row)."""

    id: int
    name: str
    role: UserRole

    @property
    def actor(self) -> str:
        """The audit log's name for changes made through the worklist."""
        return f"web:{self.name}"

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN


def deps(request: Request) -> WebDeps:
    found: WebDeps = request.app.state.deps
    return found


def current_user(request: Request) -> WebUser:
    """The user the sign-in gate let through (every page but the login has one)."""
    user = request.scope.get("state", {}).get("user")
    if not isinstance(user, WebUser):
        raise HTTPException(401)
    return user


def require_admin(request: Request) -> WebUser:
    """Admin pages: a nurse gets 403 (the page exists, she may not see it)."""
    user = current_user(request)
    if not user.is_admin:
        raise HTTPException(403, "This page is for administrators.")
    return user
