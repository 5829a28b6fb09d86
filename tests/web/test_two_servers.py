"""Two worklist servers on one database show one list: `monitor serve --workers 2` on one port
and a plain `monitor serve` on another, real processes over real HTTP, set up through the real
commands. A change made through either is on the other's Today list at the very next request:
each process keeps its own lists, but checks them against the database's change records on
every page (`web.cache`), so no nurse sees a list another nurse's change has made wrong."""

from __future__ import annotations

import csv
import io
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from monitor import clock
from monitor.domain.units import ORDINAL_SCALES, UNITS
from tests.conftest import CLINIC_TOML, Cli
from tests.web.conftest import free_port

MONITOR = (sys.executable, "-m", "monitor")
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a long password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LISTED = "TS-0001"  # overdue from the start; results recorded through one server clear it
ADDED = "TS-0002"  # no course at first; a course added through the other server lists them
FRESH_CONNECTIONS = 6  # requests on new connections, so both workers of one port answer some
NORMAL = {"platelets": "250", "neutrophils": "4.0", "hemoglobin": "135", "creatinine": "70"}
NORMAL |= {"urine_rbc": "1", "tsh": "2.1", "alt": "20", "bilirubin": "9"}


@pytest.fixture
def servers(engine: Engine, tmp_path: Path, cli: Cli) -> Iterator[tuple[str, str]]:
    """(base URL of `serve --workers 2`, base URL of a second `serve`), one database."""
    config = tmp_path / "config.toml"
    config.write_text(CLINIC_TOML, encoding="utf-8")
    cli_config = ("--config", str(config))
    today = clock.today_in("Europe/London")  # the servers' clinic day (the default zone)
    for mrn, name in ((LISTED, "Ada Byron"), (ADDED, "Ben Carter")):
        born = ("--dob", "1980-01-02", "--sex", "F")
        cli.ok(*cli_config, "patient", "add", mrn, "--name", name, *born)
    start = (today - timedelta(days=40)).isoformat()
    cli.ok(*cli_config, "course", "add", LISTED, "--start", start, "--days", "5")
    added = cli(*cli_config, "user", "add", "nina", "--role", "nurse", "--password-stdin",
                input=PASSWORD + "\n")  # fmt: skip
    assert added.code == 0, added.err
    url = engine.url.render_as_string(hide_password=False)
    # No MONITOR_WEB_SECRET: the processes share the signing key kept in the database.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    started: list[subprocess.Popen[str]] = []
    bases: list[str] = []
    try:
        for extra in (("--workers", "2"), ()):
            port = free_port()
            command = [*MONITOR, "--database", url, "--config", str(config), "serve"]
            process = subprocess.Popen(
                [*command, "--port", str(port), *extra],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            started.append(process)
            bases.append(f"http://127.0.0.1:{port}")
            _wait_until_serving(bases[-1], process)
        yield bases[0], bases[1]
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            _, stderr = process.communicate(timeout=60)
            for private in (LISTED, ADDED, "Ada", "Ben"):
                assert private not in stderr, stderr


def _wait_until_serving(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(base + "/login", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("monitor serve did not start")


def _signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    response = client.post("/login", data={"name": "nina", "password": PASSWORD, "csrf": token[1]})
    assert response.status_code == 303 and response.headers["location"] == "/"
    return client


def _overdue(client: httpx.Client) -> dict[str, set[str]]:
    """The Today page's overdue list as its CSV gives it (MRN -> overdue panels), read on a new
    connection each time (with the nurse's cookie), so a port's workers all get asked."""
    lists = []
    for _ in range(FRESH_CONNECTIONS):
        with httpx.Client(base_url=client.base_url, cookies=client.cookies, timeout=60) as fresh:
            page = fresh.get("/")
            assert page.status_code == 200 and "Overdue" in page.text
            response = fresh.get("/today.csv")
        assert response.status_code == 200
        found: dict[str, set[str]] = {}
        for row in csv.DictReader(io.StringIO(response.text)):
            found.setdefault(row["mrn"], set()).add(row["panel"])
        lists.append(found)
    assert all(found == lists[0] for found in lists), lists
    return lists[0]


def _post(client: httpx.Client, path: str, **form: str) -> None:
    token = CSRF.search(client.get("/").text)
    assert token is not None
    response = client.post(path, data={**form, "csrf": token[1]})
    assert response.status_code == 303, response.text
    assert "flash-error" not in client.get(response.headers["location"]).text


def _normal_results(client: httpx.Client, mrn: str, panels: set[str], config: Path) -> None:
    """Results for every analyte of `panels`, collected today: the panels are done."""
    from monitor.config import load_config

    catalogue = load_config(config).catalogue
    today = clock.today_in("Europe/London").isoformat()
    for panel in sorted(panels):
        for analyte in catalogue.panel("alemtuzumab", panel).analytes:
            if analyte in ORDINAL_SCALES:
                value, unit = ORDINAL_SCALES[analyte][0], ""
            else:
                value, unit = NORMAL[analyte], UNITS[analyte][0]
            path = f"/patients/{mrn}/results"
            _post(client, path, analyte=analyte, value=value, unit=unit, collected_on=today)


def test_a_change_through_one_server_is_on_the_others_list_at_once(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    workers, single = (_signed_in(base) for base in servers)
    try:
        _check_one_list(workers, single, tmp_path / "config.toml")
    finally:
        workers.close()
        single.close()


def _check_one_list(workers: httpx.Client, single: httpx.Client, config: Path) -> None:
    before = _overdue(workers)
    assert _overdue(single) == before
    assert LISTED in before and ADDED not in before

    today = clock.today_in("Europe/London")
    start = (today - timedelta(days=40)).isoformat()
    _post(workers, f"/patients/{ADDED}/courses", protocol="alemtuzumab", start=start, days="5")
    after_course = _overdue(single)
    assert ADDED in after_course and after_course[ADDED] == before[LISTED]
    assert _overdue(workers) == after_course

    _normal_results(single, LISTED, before[LISTED], config)
    after_results = _overdue(workers)
    assert LISTED not in after_results and ADDED in after_results
    assert _overdue(single) == after_results
