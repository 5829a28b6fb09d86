"""Every failed sign-in costs one argon2 verification, so the answer's time says nothing about
which names exist or which accounts are locked (issue 11 item 7: a locked account answered in
4 ms, an unknown one in 343 ms).

No timed assertion: a spy counts the hasher's work per request through the real app. The time
itself is measured by bench/bench_sign_in.py (BENCHMARKS.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

import monitor.services.people.users
from monitor.config import Config
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, User
from monitor.web.app import create_app
from tests.web.clinic import PASSWORD, TODAY
from tests.web.conftest import SECRET, FakeClock, sign_in


@pytest.fixture
def hasher_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """How often PasswordHasher.verify and .hash ran (every instance: a class-level spy)."""
    calls: Counter[str] = Counter()
    verify, hash_ = PasswordHasher.verify, PasswordHasher.hash

    def counted_verify(self: PasswordHasher, *args: object, **kwargs: object) -> bool:
        calls["verify"] += 1
        return verify(self, *args, **kwargs)  # type: ignore[arg-type]

    def counted_hash(self: PasswordHasher, *args: object, **kwargs: object) -> str:
        calls["hash"] += 1
        return hash_(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(PasswordHasher, "verify", counted_verify)
    monkeypatch.setattr(PasswordHasher, "hash", counted_hash)
    yield calls


def work_of(client: TestClient, calls: Counter[str], name: str, password: str) -> Counter[str]:
    """The hasher's work for one POST /login (the login page itself does none)."""
    client.get("/login")
    calls.clear()
    response = sign_in(client, name, password)
    assert response.status_code in (303, 401)
    return Counter(calls)


def set_user(engine: Engine, name: str, **values: object) -> None:
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(User.name == name)).one()
        for key, value in values.items():
            setattr(user, key, value)


def test_each_failed_path_verifies_exactly_once_and_hashes_nothing(
    client: TestClient, engine: Engine, clock: FakeClock, hasher_calls: Counter[str]
) -> None:
    set_user(engine, "adam", is_active=False)
    set_user(engine, "nina", locked_until=clock.now + timedelta(minutes=10))
    sign_in(client, "nobody", "warm up: the app is built")  # before any counting

    paths = {
        "unknown name": ("nobody", "whatever it is"),
        "disabled account": ("adam", PASSWORD),
        "locked account, right password": ("nina", PASSWORD),
        "locked account, wrong password": ("nina", "not the password"),
    }
    for path, (name, password) in paths.items():
        assert work_of(client, hasher_calls, name, password) == {"verify": 1}, path

    set_user(engine, "nina", locked_until=None)
    assert work_of(client, hasher_calls, "nina", "not the password") == {"verify": 1}


def test_the_failure_that_locks_the_account_verifies_once_too(
    client: TestClient, engine: Engine, hasher_calls: Counter[str]
) -> None:
    for _ in range(4):
        sign_in(client, "nina", "not the password")

    assert work_of(client, hasher_calls, "nina", "not the password") == {"verify": 1}
    with unit_of_work(engine) as session:
        assert session.scalars(select(User).where(User.name == "nina")).one().locked_until


def test_a_success_verifies_once(client: TestClient, hasher_calls: Counter[str]) -> None:
    assert work_of(client, hasher_calls, "nina", PASSWORD) == {"verify": 1}


def test_the_first_unknown_name_costs_no_more_than_the_next(
    engine: Engine, config: Config, clock: FakeClock, users: None, hasher_calls: Counter[str]
) -> None:
    """The dummy hash is made when the app is built, not by the first failed sign-in."""
    monitor.services.people.users._dummy_hash.cache_clear()
    app = create_app(config, engine, now=clock, today_fn=lambda: TODAY, secret=SECRET)

    with TestClient(app, follow_redirects=False) as client:
        assert work_of(client, hasher_calls, "nobody", "whatever it is") == {"verify": 1}


def test_a_name_no_account_can_have_is_an_unknown_name(
    client: TestClient, engine: Engine, hasher_calls: Counter[str]
) -> None:
    """A NUL in the name (which PostgreSQL cannot even compare) gets the unknown-name answer."""
    assert work_of(client, hasher_calls, "nina\x00", PASSWORD) == {"verify": 1}
    with unit_of_work(engine) as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.action == "user.login_failed"
        assert "\x00" not in str(entry.after)
