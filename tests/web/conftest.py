"""Worklist fixtures: the app on the shared test database (SQLite, and PostgreSQL when set),
an HTTP client, signed-in helpers, and a real uvicorn server with Debian's Chromium for the
browser tests.

Browser tests skip only when /usr/bin/chromium is missing outside CI; in CI (`CI` set) a
missing browser fails them. Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from monitor.config import Config
from monitor.web.app import create_app
from tests.conftest import clinic_config
from tests.web.clinic import NOW, PASSWORD, TODAY, Clinic, add_users, seed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "test-secret-" + "x" * 40
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class FakeClock:
    """The worklist's `now`, movable by tests (session expiry, lockout)."""

    now: datetime = NOW
    calls: list[datetime] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def config() -> Config:
    return clinic_config()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def users(engine: Engine) -> None:
    """A nurse (nina) and an administrator (adam), both with PASSWORD."""
    add_users(engine)


@pytest.fixture
def clinic(engine: Engine, config: Config, users: None) -> Clinic:
    return seed(engine, config)


@pytest.fixture
def app(engine: Engine, config: Config, clock: FakeClock, users: None) -> Starlette:
    return create_app(config, engine, now=clock, today_fn=lambda: TODAY, secret=SECRET)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token on a page's forms."""
    found = CSRF.search(client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: TestClient, name: str = "nina", password: str = PASSWORD) -> Any:
    token = csrf_of(client, "/login")
    return client.post("/login", data={"name": name, "password": password, "csrf": token})


@pytest.fixture
def nurse(client: TestClient) -> TestClient:
    assert sign_in(client).status_code == 303
    return client


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    assert sign_in(client, "adam").status_code == 303
    return client


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; a skip outside CI when it is missing, a failure in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: browser tests must run")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], chromium: Path
) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": str(chromium), "args": CHROMIUM_ARGS}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: $MONITOR_SCREENSHOTS when set, else a temporary folder."""
    folder = Path(os.environ.get("MONITOR_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in_page(page: Page, base: str) -> None:
    """Sign nina in through the browser's sign-in form; she lands on Today."""
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Name").fill("nina")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def live_server(app: Starlette) -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1 and a free port, in a thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
