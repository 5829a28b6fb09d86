"""Signing out, a new password and a disabled account end every session at once (issue 11
item 8: a cookie saved before POST /logout still opened /outbox as an administrator).

Each test saves the session cookie, does the thing through the real app or the real `monitor`
command, and replays the saved cookie from a fresh client: it must be sent to the login page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import itsdangerous
import pytest
from sqlalchemy import Engine, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, User
from monitor.web.app import SESSION_COOKIE
from tests.conftest import Cli
from tests.web.clinic import NOW, PASSWORD
from tests.web.conftest import SECRET, csrf_of, sign_in

NEW_PASSWORD = "a brand new password"


@pytest.fixture
def replay(app: Starlette) -> Iterator[object]:
    """GET a path from a fresh client that carries only the given session cookie."""
    clients: list[TestClient] = []

    def get(cookie: str, path: str = "/outbox") -> tuple[int, str]:
        client = TestClient(app, follow_redirects=False, cookies={SESSION_COOKIE: cookie})
        clients.append(client)
        response = client.get(path)
        return response.status_code, response.headers.get("location", "")

    yield get
    for client in clients:
        client.close()


def saved_cookie(client: TestClient) -> str:
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie, "signed in, so there is a session cookie"
    return cookie


def audited(engine: Engine) -> list[str]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_a_cookie_saved_before_logout_no_longer_opens_a_page(admin: TestClient, replay) -> None:
    cookie = saved_cookie(admin)
    assert replay(cookie) == (200, ""), "the saved cookie works while signed in"

    assert admin.post("/logout", data={"csrf": csrf_of(admin)}).status_code == 303

    assert replay(cookie) == (303, "/login")
    assert replay(cookie, "/") == (303, "/login")


def test_logout_ends_the_users_sessions_on_every_device_and_nobody_elses(
    app: Starlette, replay
) -> None:
    with (
        TestClient(app, follow_redirects=False) as ward,
        TestClient(app, follow_redirects=False) as office,
        TestClient(app, follow_redirects=False) as colleague,
    ):
        for client, name in ((ward, "adam"), (office, "adam"), (colleague, "nina")):
            assert sign_in(client, name).status_code == 303
        office_cookie, colleague_cookie = saved_cookie(office), saved_cookie(colleague)

        ward.post("/logout", data={"csrf": csrf_of(ward)})

        assert replay(office_cookie) == (303, "/login")
        assert replay(colleague_cookie, "/") == (200, "")


def test_a_password_changed_with_the_cli_ends_every_session(
    admin: TestClient, cli: Cli, engine: Engine, replay
) -> None:
    cookie = saved_cookie(admin)

    result = cli("user", "password", "adam", "--password-stdin", input=f"{NEW_PASSWORD}\n")

    assert result.code == 0, result.err
    assert replay(cookie) == (303, "/login")
    assert admin.get("/outbox").status_code == 303, "the same browser is signed out too"
    assert sign_in(admin, "adam", PASSWORD).status_code == 401
    assert sign_in(admin, "adam", NEW_PASSWORD).status_code == 303
    assert "user.password" in audited(engine)


def test_a_new_password_also_lifts_a_lock(client: TestClient, cli: Cli) -> None:
    for _ in range(5):
        sign_in(client, "nina", "wrong password")
    assert sign_in(client, "nina", PASSWORD).status_code == 401, "locked"

    cli("user", "password", "nina", "--password-stdin", input=f"{NEW_PASSWORD}\n")

    assert sign_in(client, "nina", NEW_PASSWORD).status_code == 303


def test_disabling_an_account_ends_its_sessions_and_enabling_it_does_not_revive_them(
    admin: TestClient, app: Starlette, cli: Cli, engine: Engine, replay
) -> None:
    cookie = saved_cookie(admin)

    assert cli("user", "disable", "adam").code == 0
    assert replay(cookie) == (303, "/login")
    assert sign_in(admin, "adam").status_code == 401

    assert cli("user", "enable", "adam").code == 0
    assert replay(cookie) == (303, "/login"), "an old cookie stays dead"
    assert sign_in(admin, "adam").status_code == 303
    assert ["user.disable", "user.enable"] == [a for a in audited(engine) if "able" in a]


def forged_session(data: dict[str, object]) -> str:
    """A cookie as SessionMiddleware signs it (the tests' secret): to replay old sessions."""
    payload = base64.b64encode(json.dumps(data).encode())
    return itsdangerous.TimestampSigner(SECRET).sign(payload).decode()


def test_a_cookie_from_before_the_upgrade_has_no_generation_and_is_refused(
    admin: TestClient, engine: Engine, replay
) -> None:
    """A session made by the old code (uid and seen only) must not pass as any generation."""
    with unit_of_work(engine) as session:
        adam = session.scalars(select(User).where(User.name == "adam")).one().id
    seen = NOW.timestamp()
    assert replay(forged_session({"uid": adam, "seen": seen, "gen": 0})) == (200, "")

    assert replay(forged_session({"uid": adam, "seen": seen})) == (303, "/login")


@pytest.mark.parametrize("command", ["password", "disable", "enable"])
def test_the_user_commands_refuse_an_unknown_name(cli: Cli, command: str) -> None:
    result = cli("user", command, "nobody", "--password-stdin", input=f"{NEW_PASSWORD}\n")
    if command != "password":
        result = cli("user", command, "nobody")

    assert result.code == 2
    assert "nobody" in result.err


def test_the_password_command_checks_the_new_password(cli: Cli) -> None:
    result = cli("user", "password", "nina", "--password-stdin", input="short\n")

    assert result.code == 2
    assert "at least 10" in result.err
