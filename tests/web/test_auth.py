"""Accounts and sessions over HTTP (Starlette's TestClient): sign-in is required everywhere but
the login page, failures are audited and lock the account, forms need the session's CSRF
token, admin pages refuse nurses, sessions end after the idle time, cookies are locked down."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, User
from tests.web.clinic import Clinic
from tests.web.conftest import FakeClock, csrf_of, sign_in

PAGES = [
    "/",
    "/today.csv",
    "/patients/A100",
    "/flags",
    "/quarantine",
    "/outbox",
    "/audit",
    "/audit/patients/A100",
]
POSTS = [
    "/flags/1/acknowledge",
    "/patients/A100/waive",
    "/patients/A100/results",
    "/patients/A100/status",
    "/patients/A100/email",
    "/quarantine/1/drop",
    "/logout",
]


def actions(engine: Engine) -> list[tuple[str, str]]:
    with unit_of_work(engine) as session:
        rows = session.execute(select(AuditEntry.action, AuditEntry.actor).order_by(AuditEntry.id))
        return [(action, actor) for action, actor in rows if action.startswith("user.login")]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_the_login(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


@pytest.mark.parametrize("path", POSTS)
def test_every_action_sends_a_stranger_to_the_login(client: TestClient, path: str) -> None:
    response = client.post(path, data={"csrf": csrf_of(client, "/login")})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_the_login_page_and_stylesheet_are_public(client: TestClient) -> None:
    assert client.get("/login").status_code == 200
    assert client.get("/static/worklist.css").status_code == 200


def test_a_nurse_signs_in_and_the_login_is_audited(client: TestClient, engine: Engine) -> None:
    response = sign_in(client)
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert client.get("/").status_code == 200
    assert actions(engine) == [("user.login", "web:nina")]


def test_sign_in_returns_to_the_page_asked_for(client: TestClient) -> None:
    client.get("/patients/A100", headers={"accept": "text/html"})
    assert sign_in(client).headers["location"] == "/patients/A100"


def test_a_wrong_password_is_refused_and_audited(client: TestClient, engine: Engine) -> None:
    response = sign_in(client, password="not the password")
    assert response.status_code == 401
    assert "wrong name or password" in response.text
    assert client.get("/").status_code == 303
    assert actions(engine) == [("user.login_failed", "web:nina")]


def test_an_unknown_name_gets_the_same_answer(client: TestClient, engine: Engine) -> None:
    response = sign_in(client, name="nobody", password="whatever it is")
    assert response.status_code == 401
    assert "wrong name or password" in response.text
    assert actions(engine) == [("user.login_failed", "web:unknown")]


def test_repeated_failures_lock_the_account_for_a_while(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    for _ in range(5):
        assert sign_in(client, password="wrong password").status_code == 401
    assert sign_in(client).status_code == 401, "locked: even the right password is refused"
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(User.name == "nina")).one()
        assert user.locked_until == clock.now + timedelta(minutes=15)
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.locked")).all()
        assert len(locks) == 1
    clock.now += timedelta(minutes=15, seconds=1)
    assert sign_in(client).status_code == 303


def test_a_form_without_the_csrf_token_is_refused(nurse: TestClient) -> None:
    clinic = Clinic()
    response = nurse.post(f"/patients/{clinic.alex}/email", data={"opted_out": "yes"})
    assert response.status_code == 403
    wrong = nurse.post(
        f"/patients/{clinic.alex}/email", data={"csrf": "forged", "opted_out": "yes"}
    )
    assert wrong.status_code == 403


def test_the_login_form_needs_the_csrf_token_too(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"name": "nina", "password": "x"})
    assert response.status_code == 403


def test_a_nurse_may_not_open_the_outbox(nurse: TestClient) -> None:
    assert nurse.get("/outbox").status_code == 403
    assert 'href="/outbox"' not in nurse.get("/").text


def test_an_admin_may(admin: TestClient) -> None:
    assert admin.get("/outbox").status_code == 200


def test_a_session_ends_after_the_idle_time(nurse: TestClient, clock: FakeClock) -> None:
    clock.now += timedelta(minutes=29)
    assert nurse.get("/").status_code == 200, "activity keeps the session alive"
    clock.now += timedelta(minutes=31)
    response = nurse.get("/")
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert "session has ended" in nurse.get("/login").text


def test_signing_out_ends_the_session(nurse: TestClient, engine: Engine) -> None:
    response = nurse.post("/logout", data={"csrf": csrf_of(nurse)})
    assert response.status_code == 303
    assert nurse.get("/").status_code == 303
    with unit_of_work(engine) as session:
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "user.logout"))


def test_a_disabled_account_is_signed_out_at_once(nurse: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.scalars(select(User).where(User.name == "nina")).one().is_active = False
    assert nurse.get("/").status_code == 303


def test_the_session_cookie_is_http_only_and_same_site_strict(client: TestClient) -> None:
    cookie = sign_in(client).headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()


def test_pages_carry_security_headers(nurse: TestClient) -> None:
    headers = nurse.get("/").headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"


def test_every_form_on_every_page_carries_the_token(nurse: TestClient, clinic: Clinic) -> None:
    for path in ("/", "/patients/A100", "/flags", "/quarantine", "/audit"):
        page = nurse.get(path).text
        forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", page, flags=re.S)
        assert all('name="csrf"' in form for form in forms), path
