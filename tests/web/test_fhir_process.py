"""The FHIR API and the live calendar over real HTTP (httpx) against a running `monitor serve`
process, set up through the real commands (`patient add`, `course add`, `token add`,
`patient calendar`) on the same database. The server keeps the real clock, so the patient's
dates are relative to today."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import Engine

from monitor import clock
from tests.conftest import CLINIC_TOML, Cli
from tests.web.conftest import free_port
from tests.web.fhir_helpers import bearer, validated

MONITOR = (sys.executable, "-m", "monitor")
REPO = Path(__file__).resolve().parents[2]
MRN = "HT-0042"
NAME = "Quinn Harper"


@pytest.fixture
def served(engine: Engine, tmp_path: Path, cli: Cli) -> Iterator[tuple[str, Path]]:
    """`monitor serve` on a free port with a config that names that port; (base URL, config)."""
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(CLINIC_TOML + f"\n[web]\nport = {port}\n", encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "MONITOR_WEB_SECRET": "t" * 48}
    process = subprocess.Popen(
        [*MONITOR, "--database", url, "--config", str(config), "serve"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, process)
        yield base, config
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert MRN not in stderr and "Quinn" not in stderr, stderr


def _wait_until_serving(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "monitor serve exited"
        try:
            httpx.get(base + "/fhir/metadata", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("monitor serve did not start")


def _uids(body: bytes) -> dict[str, date]:
    calendar = Calendar.from_ical(body)
    return {str(e["uid"]): e.decoded("dtstart") for e in calendar.walk("VEVENT")}


def test_a_hospital_system_reads_the_plan_and_the_patient_subscribes(
    served: tuple[str, Path], cli: Cli
) -> None:
    base, config = served
    c = ("--config", str(config))
    today = clock.today_in("Europe/London")  # the server's clinic day (the default zone)
    first = today - timedelta(days=40)
    cli.ok(*c, "patient", "add", MRN, "--name", NAME, "--dob", "1981-02-03", "--sex", "F")
    cli.ok(*c, "course", "add", MRN, "--start", first.isoformat(), "--days", "5")
    token = cli.ok(*c, "token", "add", "epr", "--scope", "fhir:read").strip()
    calendar_url = cli.ok(*c, "patient", "calendar", MRN).strip()
    assert calendar_url.startswith(base + "/calendar/") and calendar_url.endswith(".ics")

    with httpx.Client(base_url=base, timeout=30) as http:
        assert validated(http.get("/fhir/metadata").json())["resourceType"] == (
            "CapabilityStatement"
        )
        refused = http.get("/fhir/Patient", params={"identifier": MRN})
        assert refused.status_code == 401 and MRN not in refused.text

        found = http.get("/fhir/Patient", params={"identifier": MRN}, headers=bearer(token))
        assert found.headers["content-type"] == "application/fhir+json"
        patient = validated(found.json())["entry"][0]["resource"]
        ref = f"Patient/{patient['id']}"

        # Every ServiceRequest of the patient, page by page through the server's own links.
        page = validated(
            http.get(
                "/fhir/ServiceRequest",
                params={"patient": ref, "_count": "10"},
                headers=bearer(token),
            ).json()
        )
        ids = [e["resource"]["id"] for e in page["entry"]]
        while nxt := next((ln["url"] for ln in page["link"] if ln["relation"] == "next"), None):
            assert nxt.startswith(base + "/fhir/ServiceRequest?")
            page = validated(http.get(nxt, headers=bearer(token)).json())
            ids += [e["resource"]["id"] for e in page["entry"]]
        assert len(ids) == page["total"] == len(set(ids)) > 10
        plan = validated(
            http.get("/fhir/CarePlan", params={"patient": ref}, headers=bearer(token)).json()
        )["entry"][0]["resource"]
        assert [a["reference"]["reference"] for a in plan["activity"]] == [
            f"ServiceRequest/{i}" for i in ids
        ]

        subscribed = http.get(calendar_url)
        assert subscribed.status_code == 200
        assert subscribed.headers["cache-control"].startswith("private")
        assert MRN not in subscribed.text and "Quinn" not in subscribed.text
        before = _uids(subscribed.content)
        assert before

        second = today + timedelta(days=200)
        cli.ok(*c, "course", "add", MRN, "--start", second.isoformat(), "--days", "3")
        after = _uids(http.get(calendar_url).content)
        kept = {uid: day for uid, day in before.items() if day < second - timedelta(days=60)}
        assert kept and all(after.get(uid) == day for uid, day in kept.items())
        assert set(after) - set(before)  # the new course's tests

        cli.ok(*c, "token", "revoke", "epr")
        assert http.get("/fhir/Patient", headers=bearer(token)).status_code == 401
        cli.ok(*c, "patient", "calendar", MRN, "--revoke")
        assert http.get(calendar_url).status_code == 404
