"""Kept values: made once on first use, the same ever after (the web's signing key)."""

from __future__ import annotations

from sqlalchemy import Engine

from monitor.services.settings import kept_value


def test_a_kept_value_is_made_once_and_kept(engine: Engine) -> None:
    made: list[str] = []

    def make() -> str:
        made.append(f"value-{len(made)}")
        return made[-1]

    assert kept_value(engine, "test.key", make) == "value-0"
    assert kept_value(engine, "test.key", make) == "value-0"
    assert made == ["value-0"]
    assert kept_value(engine, "test.other", make) == "value-1"
