"""With `[web] secure_cookies = true` the session cookie is marked Secure."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from monitor.config import Config, parse_config
from monitor.web.app import create_app
from monitor.web.secret import SECRET_VARIABLE, session_secret
from tests.web.clinic import TODAY, add_users
from tests.web.conftest import FakeClock, sign_in


def test_secure_cookies_are_marked_secure(engine: Engine) -> None:
    add_users(engine)
    config = parse_config({"web": {"secure_cookies": True}})
    app = create_app(config, engine, now=FakeClock(), today_fn=lambda: TODAY)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        cookie = sign_in(client).headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_the_session_secret_is_generated_once_and_kept(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    first = session_secret(engine)
    assert len(first) >= 32
    assert session_secret(engine) == first


def test_the_environment_secret_wins(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "s" * 40)
    assert session_secret(engine) == "s" * 40
    assert Config().web.session_minutes == 30
