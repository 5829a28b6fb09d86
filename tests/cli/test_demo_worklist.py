"""`monitor demo` ends with the two commands that open the demo clinic in the worklist, and they
work as printed (issue 10, item 6): real processes, as a person would paste them."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

MONITOR = Path(sys.executable).parent / "monitor"
PASSWORD = "a long demo password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PATH"] = f"{MONITOR.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def demo_output(tmp_path: Path) -> str:
    done = subprocess.run(
        [str(MONITOR), "demo", "--patients", "3"],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def worklist_commands(output: str) -> list[str]:
    after = output.split("Open the nurses' worklist", 1)[1].splitlines()[1:]
    return [line.strip() for line in after if line.startswith("  ")]


def test_no_line_of_the_closing_hint_looks_like_a_pipe(demo_output):
    hint = demo_output.split("Look around", 1)[1]
    assert "|" not in hint
    assert "  monitor --database sqlite:///monitor-demo.db schedule DEMO0001" in hint


def test_the_printed_commands_open_the_worklist_on_the_demo_clinic(demo_output, tmp_path):
    add_user, serve = worklist_commands(demo_output)
    assert add_user == "monitor --database sqlite:///monitor-demo.db user add demo --role admin"
    assert serve == "monitor --database sqlite:///monitor-demo.db serve"
    env = environment()
    # The password prompt reads the terminal; a new session has none, so it reads stdin.
    added = subprocess.run(
        shlex.split(add_user),
        cwd=tmp_path,
        env=env,
        input=f"{PASSWORD}\n{PASSWORD}\n",
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    port = free_port()  # the printed command with a free port instead of the default 8080
    server = subprocess.Popen(
        [*shlex.split(serve), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            login = wait_for(client, "/login", server)
            token = CSRF.search(login.text)
            assert token
            signed_in = client.post(
                "/login", data={"name": "demo", "password": PASSWORD, "csrf": token.group(1)}
            )
            assert signed_in.status_code == 303
            patient = client.get("/patients/DEMO0001")
            assert patient.status_code == 200 and "DEMO0001" in patient.text
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for(client: httpx.Client, path: str, server: subprocess.Popen[bytes]) -> httpx.Response:
    """The page once the server answers (it exits with an error if it cannot start)."""
    for _ in range(600):
        assert server.poll() is None, f"monitor serve exited {server.returncode}"
        try:
            return client.get(path)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("monitor serve did not answer within a minute")
