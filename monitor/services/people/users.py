"""Worklist accounts: adding a user, checking a password, locking after repeated failures,
and ending sessions.

Passwords are kept only as argon2id hashes (argon2-cffi's RFC 9106 defaults). Every sign-in,
failed sign-in and lock is written to the audit log, so a clinic can see who looked and who
tried. Every answer costs exactly one argon2 verification: an unknown name, a disabled account
and a locked one are checked against a dummy hash (made once, when the worklist starts), so
neither the answer nor its time reveals who has an account or whose is locked.

Sessions end on the server's word, not the cookie's: each cookie carries the account's session
generation from when it was made, and signing out, a new password or disabling the account adds
one to it, so every cookie made before (saved, copied, on another computer) stops working at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain.fields import line_problem
from monitor.domain.vocabulary import UserRole
from monitor.errors import Field, FieldError, InvalidInput, NotFound
from monitor.services.audit import record_change
from monitor.store.models import User

MIN_PASSWORD_LENGTH = 10
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Lockout:
    """How many failures in a row lock an account, and for how long."""

    attempts: int
    minutes: int


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the name is unknown, so both paths cost the same."""
    return _hasher().hash("not a password of anyone")


def prepare_sign_in() -> None:
    """Make the dummy hash now, so the first failed sign-in does not cost a hash on top."""
    _dummy_hash()


def add_user(
    session: Session, *, name: str, role: str, password: str, actor: str, now: datetime
) -> User:
    """Create an account; the name must be new and the password long enough. Audited."""
    name = name.strip()
    user_role = _check_new_user(session, name, role, password)
    user = User(
        name=name,
        role=user_role,
        password_hash=_hasher().hash(password),
        created_at=now,
        failed_logins=0,
        is_active=True,
    )
    session.add(user)
    session.flush()
    record_change(
        session,
        at=now,
        actor=actor,
        action="user.add",
        entity="user",
        entity_id=user.id,
        patient_id=None,
        after={"name": name, "role": user_role.value},
    )
    return user


def _check_new_user(session: Session, name: str, role: str, password: str) -> UserRole:
    if line_problem(name, MAX_NAME_LENGTH) is not None or any(c.isspace() for c in name):
        raise InvalidInput(
            f"a user name is 1-{MAX_NAME_LENGTH} characters without spaces or control characters"
        )
    try:
        user_role = UserRole(role)
    except ValueError:
        raise FieldError(Field.ROLE, f" must be nurse or admin, got {role!r}") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise InvalidInput(f"a user named {name!r} already exists")
    return user_role


def authenticate(
    session: Session, *, name: str, password: str, now: datetime, lockout: Lockout
) -> User | None:
    """The user if the password is right and the account usable, else None; always audited."""
    user = None
    if line_problem(name.strip(), MAX_NAME_LENGTH) is None:  # else no account has that name
        user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None or not user.is_active:
        _verify(_dummy_hash(), password)
        _audit(session, "user.login_failed", None, now, {"name": clean_name(name)})
        return None
    if user.locked_until is not None and user.locked_until > now:
        _verify(_dummy_hash(), password)  # the same cost as any other answer
        _audit(session, "user.login_failed", user, now, {"reason": "locked"})
        return None
    if not _verify(user.password_hash, password):
        _record_failure(session, user, now, lockout)
        return None
    _record_success(session, user, password, now)
    return user


def clean_name(name: str) -> str:
    """A typed-in name as the audit log may keep it: bounded, control characters replaced."""
    return "".join(c if c.isprintable() else "\ufffd" for c in name[:MAX_NAME_LENGTH])


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _record_failure(session: Session, user: User, now: datetime, lockout: Lockout) -> None:
    user.failed_logins = (user.failed_logins or 0) + 1
    _audit(session, "user.login_failed", user, now, {"failures": user.failed_logins})
    if user.failed_logins >= lockout.attempts:
        user.locked_until = now + timedelta(minutes=lockout.minutes)
        user.failed_logins = 0
        _audit(session, "user.locked", user, now, {"until": user.locked_until.isoformat()})


def _record_success(session: Session, user: User, password: str, now: datetime) -> None:
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    _audit(session, "user.login", user, now, None)


def sign_out_everywhere(session: Session, *, user_id: int, now: datetime) -> None:
    """End every session of the account (this browser's and any other); audited."""
    user = session.get(User, user_id)
    if user is not None:
        _end_sessions(user)
    _audit(session, "user.logout", user, now, None)


def change_password(
    session: Session, *, name: str, password: str, actor: str, now: datetime
) -> User:
    """A new password (e.g. after a nurse forgot hers): ends every session, lifts a lock."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = _named(session, name)
    user.password_hash = _hasher().hash(password)
    user.failed_logins, user.locked_until = 0, None
    _end_sessions(user)
    _record_admin_change(session, "user.password", user, actor, now)
    return user


def set_active(session: Session, *, name: str, active: bool, actor: str, now: datetime) -> User:
    """Disable an account (its sessions end at once) or enable it again (old cookies stay
    dead: the generation moved on when it was disabled)."""
    user = _named(session, name)
    user.is_active = active
    _end_sessions(user)
    _record_admin_change(session, "user.enable" if active else "user.disable", user, actor, now)
    return user


def _named(session: Session, name: str) -> User:
    unusable = line_problem(name.strip(), MAX_NAME_LENGTH) is not None
    user = None if unusable else session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise NotFound(f"no user named {name.strip()[:MAX_NAME_LENGTH]!r}")
    return user


def _end_sessions(user: User) -> None:
    user.session_generation = (user.session_generation or 0) + 1


def _record_admin_change(
    session: Session, action: str, user: User, actor: str, now: datetime
) -> None:
    record_change(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="user",
        entity_id=user.id,
        patient_id=None,
        after={"name": user.name, "active": user.is_active},
    )


def _audit(
    session: Session,
    action: str,
    user: User | None,
    now: datetime,
    after: dict[str, object] | None,
) -> None:
    record_change(
        session,
        at=now,
        actor=f"web:{user.name}" if user is not None else "web:unknown",
        action=action,
        entity="user",
        entity_id=user.id if user is not None else None,
        patient_id=None,
        after=after,
    )


def signed_in_user(session: Session, user_id: int, generation: int) -> User | None:
    """The session's user, or None once the account is gone or disabled, or the session's
    generation has passed (signed out, new password)."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.session_generation != generation:
        return None
    return user
