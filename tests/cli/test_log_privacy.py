"""No patient data in the logs, from any library (issue 11 item 9), through real processes.

The `hl7` package logs the whole field it cannot unescape: `RX00001\\Zq\\` in PID-3 put the MRN
on stderr, and a bad escape in OBX-5 the value. Each test runs `python -m monitor` (logging is
set up by the process's entry point) and reads what reached stderr. The last test logs a secret
through every logger the product's modules create, so a new library is covered the day it is
imported.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hl7.client import MLLPClient
from sqlalchemy import Engine

from monitor.log import LIBRARY_LOGGERS, NEVER, LibraryLogger
from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
MONITOR = (sys.executable, "-m", "monitor")
MRN = "RX00001"
SECRET_VALUE = "113.25"  # only ever in the message, never in a log line
BAD_ESCAPES = (
    "MSH|^~\\&|LAB|CITYLAB|MON|CLINIC|20240212100000||ORU^R01|C1|P|2.5.1\r"
    f"PID|1||{MRN}\\Zq\\^^^CITY^MR||Example^Ann\r"
    "OBR|1||ACC1|58410-2^CBC^LN|||20240212083000\r"
    f"OBX|1|NM|777-3^PLT^LN||{SECRET_VALUE}\\Zq\\|10*9/L|||||F\r"
    f"OBX|2|NM|751-8^NEUT^LN||4.1\\X0Z\\|10*9/L|||||F\r"
    f"OBX|3|ST|731-0^LYMPH^LN||{SECRET_VALUE}\\\\|10*9/L|||||F\r"
)


def monitor(
    url: str, *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MONITOR, "--database", url, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
    )


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return {**env, "PYTHONPATH": str(REPO), "MONITOR_WEB_SECRET": "t" * 48}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def debug_config(folder: Path) -> Path:
    """The most talkative logging a clinic can configure."""
    path = folder / "config.toml"
    path.write_text('[logging]\nlevel = "DEBUG"\nformat = "text"\n', encoding="utf-8")
    return path


def assert_no_patient_data(stderr: str) -> None:
    assert MRN not in stderr
    assert SECRET_VALUE not in stderr


@pytest.fixture
def patient(cli: Cli) -> str:
    cli.ok("patient", "add", MRN, "--name", "Ann Example", "--sex", "F")
    return MRN


def test_an_import_with_bad_escapes_logs_no_mrn_and_no_value(
    engine: Engine, patient: str, tmp_path: Path
) -> None:
    message = tmp_path / "bad-escape.hl7"
    message.write_text(BAD_ESCAPES, encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)

    result = monitor(url, "import", str(message), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert_no_patient_data(result.stderr)
    assert "Error decoding value [<withheld>]" in result.stderr  # still seen, without content


def test_the_mllp_listener_at_debug_logs_no_mrn_and_no_value(
    engine: Engine, patient: str, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    port = free_port()
    config = debug_config(tmp_path)
    process = subprocess.Popen(
        [*MONITOR, "--database", url, "--config", str(config), "listen-hl7", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    try:
        assert process.stdout is not None
        assert "listening" in process.stdout.readline()
        with MLLPClient("127.0.0.1", port) as client:
            ack = client.send_message(BAD_ESCAPES).decode("utf-8")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)

    assert "MSA|A" in ack
    assert process.returncode == 0, stderr
    assert "MLLP message:" in stderr  # DEBUG really is on: our own lines are there
    assert_no_patient_data(stderr)


def test_the_worklist_at_debug_logs_no_path_no_query_and_no_form(
    engine: Engine, patient: str, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    port = free_port()
    config = debug_config(tmp_path)
    process = subprocess.Popen(
        [*MONITOR, "--database", url, "--config", str(config), "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(base, process)
        with httpx.Client(base_url=base) as client:
            client.get(f"/patients/{MRN}", params={"q": SECRET_VALUE})
            client.post("/login", data={"name": MRN, "password": SECRET_VALUE, "csrf": "x"})
            client.post(
                "/login",
                content=f"--b\r\n{MRN}",
                headers={"content-type": "multipart/form-data; boundary=b"},
            )
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)

    assert "serving the worklist" in stderr
    assert_no_patient_data(stderr)


def _wait_until_serving(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "monitor serve exited"
        try:
            httpx.get(base + "/login", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("monitor serve did not start")


# Imports what the service's processes import, configures logging as they do, then logs a
# secret three ways through every logger that exists: as an argument, in an exception's text,
# and in a message the library formatted itself.
EVERY_LOGGER = """
import json, logging
import monitor.cli, monitor.daemon, monitor.web.app, monitor.adapters.mllp, monitor.store.migrate
import monitor.notify.transports
import uvicorn.server, uvicorn.protocols.http.h11_impl, python_multipart, psycopg
import alembic.runtime.migration, apscheduler.schedulers.background
from monitor.config import LoggingConfig
from monitor.log import configure_logging

configure_logging(LoggingConfig(level="DEBUG", format="json"))
names = sorted(
    name for name, logger in logging.root.manager.loggerDict.items()
    if isinstance(logger, logging.Logger) and not name.startswith("monitor")
)
for name in names:
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)  # as if a library turned itself up
    try:
        raise ValueError("RX00001 in an exception")
    except ValueError:
        logger.error("field [%s]", "RX00001 as an argument", exc_info=True)
    logger.warning("RX00001 in a message formatted by the library")
print(json.dumps(names))
"""


def test_every_library_logger_withholds_what_it_is_given(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", EVERY_LOGGER],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=_environment(),
    )
    assert result.returncode == 0, result.stderr
    names = json.loads(result.stdout)
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    by_logger: dict[str, list[str]] = {}
    for line in lines:
        by_logger.setdefault(line["logger"], []).append(line["message"])
        assert "exception" not in line  # no traceback from a library: its text quotes data

    policies = {library.name: library for library in LIBRARY_LOGGERS}
    libraries = {name.split(".")[0] for name in names}
    assert {"sqlalchemy", "uvicorn", "asyncio", "psycopg", "alembic", "apscheduler"} <= libraries
    assert {"python_multipart"} <= libraries
    for hl7_logger in (p for p in policies if p.endswith(".py")):  # named after their files
        assert hl7_logger in names
    for name in names:
        policy = _policy_of(name, policies)
        written = " ".join(by_logger.get(name, []))
        if policy is not None and policy.floor == NEVER:
            assert not written, name
            continue
        assert "field [<withheld>]" in written or "field [RX00001 as an argument]" in written, name
        if policy is not None and policy.arguments_safe:
            assert "in an exception" not in written, name
        else:
            assert "RX00001" not in written, name


def _policy_of(name: str, policies: dict[str, LibraryLogger]) -> LibraryLogger | None:
    """The table entry for `name`: its own, else its nearest dotted ancestor's."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        found = policies.get(".".join(parts[:end]))
        if found is not None:
            return found
    return policies.get(name)
