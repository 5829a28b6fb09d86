"""Worklist accounts, called directly: adding a user (refusals name the problem and write
nothing), signing in and the lock after repeated failures, a new password and disabling ending
every session. Every step is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select

from monitor.domain.vocabulary import UserRole
from monitor.errors import FieldError, InvalidInput, NotFound
from monitor.services.people import users
from monitor.services.people.users import (
    Lockout,
    add_user,
    authenticate,
    change_password,
    set_active,
    sign_out_everywhere,
    signed_in_user,
)
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, User
from tests.services.clinic import NOW, audit_actions, audit_entries, count

PASSWORD = "correct horse battery"
LOCKOUT = Lockout(attempts=3, minutes=15)
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest cost: these tests are about the accounts, not the hash
    (tests/web/test_sign_in_cost.py counts the real ones)."""
    monkeypatch.setattr(users, "_hasher", lambda: CHEAP)


def add(engine: Engine, name: str = "nina", role: str = "nurse", password: str = PASSWORD) -> int:
    with unit_of_work(engine) as session:
        return add_user(session, name=name, role=role, password=password, actor="cli:admin",
                        now=NOW).id  # fmt: skip


def sign_in(engine: Engine, password: str, minutes: int = 0, name: str = "nina") -> User | None:
    with unit_of_work(engine) as session:
        return authenticate(session, name=name, password=password,
                            now=NOW + timedelta(minutes=minutes), lockout=LOCKOUT)  # fmt: skip


def generation(engine: Engine, user_id: int) -> int:
    with unit_of_work(engine) as session:
        return session.get_one(User, user_id).session_generation


def test_a_new_user_keeps_only_a_hash_and_is_audited(engine: Engine) -> None:
    user_id = add(engine, name=" nina ")
    with unit_of_work(engine) as session:
        user = session.get_one(User, user_id)
        assert (user.name, user.role, user.is_active) == ("nina", UserRole.NURSE, True)
        assert PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
    [entry] = audit_entries(engine, "user.add")
    assert (entry.actor, entry.after) == ("cli:admin", {"name": "nina", "role": "nurse"})


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"name": "nina jones"}, InvalidInput, "a user name is 1-200 characters without spaces"),
        ({"role": "doctor"}, FieldError, "role must be nurse or admin, got 'doctor'"),
        ({"password": "short"}, InvalidInput, "the password must have at least 10 characters"),
    ],
)
def test_a_bad_user_is_refused_and_nothing_written(
    engine: Engine, fields: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        add(engine, **fields)
    assert (count(engine, User), count(engine, AuditEntry)) == (0, 0)


def test_a_name_is_taken_once(engine: Engine) -> None:
    add(engine)
    with pytest.raises(InvalidInput, match="a user named 'nina' already exists"):
        add(engine, role="admin")
    assert count(engine, User) == 1


def test_signing_in_and_a_lock_after_repeated_failures(engine: Engine) -> None:
    add(engine)
    signed = sign_in(engine, PASSWORD)
    assert signed is not None and signed.last_login_at == NOW
    for minute in range(LOCKOUT.attempts):
        assert sign_in(engine, "wrong password", minute) is None
    assert sign_in(engine, PASSWORD, 5) is None  # locked, even with the right password
    assert sign_in(engine, PASSWORD, 2 + LOCKOUT.minutes) is not None  # the lock has passed
    assert audit_actions(engine) == [
        "user.add", "user.login", "user.login_failed", "user.login_failed", "user.login_failed",
        "user.locked", "user.login_failed", "user.login",
    ]  # fmt: skip
    assert sign_in(engine, PASSWORD, name="nobody") is None
    [unknown] = [e for e in audit_entries(engine, "user.login_failed") if e.entity_id is None]
    assert (unknown.actor, unknown.after) == ("web:unknown", {"name": "nobody"})


def test_a_new_password_ends_every_session_and_lifts_a_lock(engine: Engine) -> None:
    user_id = add(engine)
    for minute in range(LOCKOUT.attempts):
        sign_in(engine, "wrong password", minute)
    before = generation(engine, user_id)
    with unit_of_work(engine) as session:
        change_password(session, name="nina", password="another long one", actor="cli:admin",
                        now=NOW)  # fmt: skip
        assert signed_in_user(session, user_id, before) is None
    assert generation(engine, user_id) == before + 1
    assert sign_in(engine, "another long one", 1) is not None
    assert audit_entries(engine, "user.password")[0].after == {"name": "nina", "active": True}


def test_disabling_ends_sessions_and_enabling_again_keeps_old_cookies_dead(
    engine: Engine,
) -> None:
    user_id = add(engine)
    old = generation(engine, user_id)
    with unit_of_work(engine) as session:
        set_active(session, name="nina", active=False, actor="cli:admin", now=NOW)
    assert sign_in(engine, PASSWORD) is None
    with unit_of_work(engine) as session:
        set_active(session, name="nina", active=True, actor="cli:admin", now=NOW)
    current = generation(engine, user_id)
    with unit_of_work(engine) as session:
        assert signed_in_user(session, user_id, old) is None
        assert signed_in_user(session, user_id, current) is not None
    assert [e.action for e in audit_entries(engine, "user.disable")] == ["user.disable"]
    assert [e.action for e in audit_entries(engine, "user.enable")] == ["user.enable"]


def test_signing_out_everywhere_moves_the_generation_on(engine: Engine) -> None:
    user_id = add(engine)
    old = generation(engine, user_id)
    with unit_of_work(engine) as session:
        sign_out_everywhere(session, user_id=user_id, now=NOW)
    with unit_of_work(engine) as session:
        assert signed_in_user(session, user_id, old) is None
    assert audit_entries(engine, "user.logout")[0].entity_id == user_id


def test_an_unknown_user_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no user named 'ghost'"):
        with unit_of_work(engine) as session:
            set_active(session, name="ghost", active=False, actor="cli:admin", now=NOW)
    with unit_of_work(engine) as session:
        assert session.scalars(select(User)).all() == []
