"""`monitor user add` through the real command; `monitor serve` is exercised by the browser
tests' uvicorn and by bench/bench_web.py."""

from __future__ import annotations

from sqlalchemy import Engine, select

from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, User


def test_user_add_reads_the_password_from_stdin(cli, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "user", "add", "nina", "--role", "nurse", "--password-stdin", input="a long password\n"
    )
    assert result.code == 0, result.err
    with unit_of_work(engine) as session:
        user = session.scalars(select(User)).one()
        assert (user.name, user.role.value) == ("nina", "nurse")
        assert user.password_hash.startswith("$argon2id$")
        assert "a long password" not in user.password_hash
        assert session.scalar(select(AuditEntry.action)) == "user.add"


def test_user_add_prompts_twice(cli, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "user", "add", "adam", "--role", "admin", input="a long password\na long password\n"
    )
    assert result.code == 0, result.err
    mismatch = cli("user", "add", "eve", "--role", "admin", input="first password\nother one!!\n")
    assert mismatch.code != 0


def test_user_add_refuses_bad_input(cli) -> None:  # type: ignore[no-untyped-def]
    short = cli("user", "add", "nina", "--role", "nurse", "--password-stdin", input="short\n")
    assert short.code == 2 and "at least 10" in short.err
    role = cli(
        "user", "add", "nina", "--role", "doctor", "--password-stdin", input="long enough pw\n"
    )
    assert role.code == 2 and "nurse or admin" in role.err
    cli("user", "add", "nina", "--role", "nurse", "--password-stdin", input="long enough pw\n")
    again = cli(
        "user", "add", "nina", "--role", "nurse", "--password-stdin", input="long enough pw\n"
    )
    assert again.code == 2 and "already exists" in again.err
