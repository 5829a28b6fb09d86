"""The worklist on a database whose stored slots came from another protocol: the pages built
from slots (Today, its CSV, a patient's page) refuse with 503 and say what fixes it; the pages
that do not read slots (flags, audit) keep working, so urgent results are still seen."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from monitor.config import parse_config
from monitor.services.schedule.fingerprints import rebuild_schedules
from monitor.web.app import create_app
from tests.web.clinic import TODAY, Clinic
from tests.web.conftest import SECRET, FakeClock, sign_in

# The clinic was stored under the default protocol; this worklist runs with TSH every 2 months.
CHANGED = parse_config({"protocol": {"panels": {"tsh": {"every_months": 2}}}})


def test_pages_built_from_stale_slots_refuse_until_a_rebuild(
    engine: Engine, clinic: Clinic, clock: FakeClock
) -> None:
    app = create_app(CHANGED, engine, now=clock, today_fn=lambda: TODAY, secret=SECRET)
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client).status_code == 303

        for path in ("/", "/today.csv", f"/patients/{clinic.alex}"):
            page = client.get(path)
            assert page.status_code == 503, path
            assert "monitor db rebuild" in page.text
            assert "Alex Rivers" not in page.text  # no stale list, no patient data
        flags = client.get("/flags")
        assert flags.status_code == 200
        assert "Alex Rivers" in flags.text

        rebuild_schedules(engine, CHANGED.catalogue, only_stale=True)

        assert client.get("/").status_code == 200
        patient = client.get(f"/patients/{clinic.alex}")
        assert patient.status_code == 200
        assert "Alex Rivers" in patient.text
