"""The worklist for a patient on two treatments (SPEC §10, issue 13 item 4): alemtuzumab and a
continuous site protocol, `site_nat`, whose lft falls on the same days as alemtuzumab's. Today
names the protocol of each test, the patient page has one grid per treatment, a waiver chooses
its series, and a nurse starts and stops a treatment from the page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from monitor.config import Config
from monitor.services.people.patients import add_patient
from monitor.services.people.treatments import start_treatment
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Treatment, Waiver
from tests.conftest import clinic_config
from tests.web.clinic import (
    ELI_NAT_START,
    NOW,
    SHARED_LFT_DUE,
    SITE_NAT,
    TODAY,
    seed_two_series,
)
from tests.web.conftest import csrf_of, sign_in_page

SHARED = SHARED_LFT_DUE.isoformat()


@pytest.fixture
def config() -> Config:
    return clinic_config({"protocols": {"site_nat": SITE_NAT}})


@pytest.fixture
def eli(engine: Engine, config: Config, users: None) -> str:
    return seed_two_series(engine, config)


def section(page: str, start: str, end: str) -> str:
    return page.split(start)[1].split(end)[0]


def post(client: TestClient, path: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf": csrf_of(client), **data})


def test_today_names_the_protocol_beside_each_overdue_test(nurse: TestClient, eli: str) -> None:
    overdue = section(nurse.get("/").text, 'id="overdue"', 'id="unreachable"')
    eli_line = section(overdue, "Eli Stone", "</tr>")
    labels = re.findall(
        r'<span class="series" data-protocol="([a-z_]+)"><span class="proto"', eli_line
    )
    assert labels == ["alemtuzumab", "site_nat"], "each protocol's tests under its name, once"
    nat = section(eli_line, '<span class="series" data-protocol="site_nat">', "</span></span>")
    assert '<span class="proto" title="Site natalizumab">Site natalizumab</span>' in nat
    assert '<span class="chip" data-protocol="site_nat" title="lft due 25 May 2026, Site ' in nat
    assert re.findall(r">([a-z]+) · ", nat) == ["lft"], "site_nat's only panel"
    alem = section(
        eli_line, '<span class="series" data-protocol="alemtuzumab">', 'data-protocol="site_nat"'
    )
    assert ">Alemtuzumab (Lemtrada)</span>" in alem and ">lft · 25 May 2026<" in alem
    assert {"cbc", "lft", "tsh"} <= set(re.findall(r">([a-z]+) · ", alem))


def test_the_week_list_names_the_protocol(
    nurse: TestClient, engine: Engine, config: Config, eli: str
) -> None:
    """Kim starts site_nat in two days: its baseline lft is due this week."""
    starts = TODAY + timedelta(days=2)
    with unit_of_work(engine, config.catalogue) as session:
        add_patient(
            session,
            mrn="F600",
            name="Kim Vale",
            email=None,
            born_on=None,
            sex="F",
            site="main",
            actor="test",
            now=NOW,
        )
        start_treatment(
            session, mrn="F600", protocol="site_nat", started_on=starts, actor="test", now=NOW
        )
    week = section(nurse.get("/").text, 'id="week"', "</section>")
    kim = section(week, "Kim Vale", "</tr>")
    assert '<span class="proto" title="Site natalizumab">Site natalizumab</span>' in kim
    chip = f'data-protocol="site_nat" title="lft due {starts:%d %b %Y}, Site natalizumab"'
    assert chip + f">lft · {starts:%d %b %Y}<" in kim


def test_the_panel_filter_keeps_both_series(nurse: TestClient, eli: str) -> None:
    overdue = section(nurse.get("/?panel=lft").text, 'id="overdue"', 'id="unreachable"')
    assert overdue.count('data-protocol="site_nat"') >= 1
    assert overdue.count('data-protocol="alemtuzumab"') >= 1
    assert "cbc ·" not in overdue


def test_the_csv_has_a_protocol_column(nurse: TestClient, eli: str) -> None:
    rows = list(csv.DictReader(io.StringIO(nurse.get("/today.csv?panel=lft").text)))
    header = nurse.get("/today.csv").text.splitlines()[0].split(",")
    assert header[-1] == "protocol" and header[:4] == ["mrn", "name", "site", "panel"]
    shared = [row for row in rows if row["due_on"] == SHARED]
    assert sorted(row["protocol"] for row in shared) == ["alemtuzumab", "site_nat"]
    assert {row["panel"] for row in rows} == {"lft"}


def test_the_patient_page_has_one_grid_per_treatment(nurse: TestClient, eli: str) -> None:
    page = nurse.get(f"/patients/{eli}").text
    assert page.count('class="treatment-grid"') == 2
    alem = section(page, 'id="treatment-1" data-protocol="alemtuzumab"', 'class="treatment-grid"')
    nat = section(page, 'id="treatment-2" data-protocol="site_nat"', "</section>")
    assert "Alemtuzumab (Lemtrada)" in alem and "course 1 21 Apr 2025 \u2013 25 Apr 2025" in alem
    assert "Site natalizumab" in nat and "started 25 Mar 2026, ongoing" in nat
    # each section's rows are its own protocol's panels
    assert set(re.findall(r'data-protocol="([a-z_]+)" data-panel', nat)) == {"site_nat"}
    assert set(re.findall(r'data-panel="([a-z]+)"', nat)) == {"lft"}
    assert {"cbc", "tsh", "lft"} <= set(re.findall(r'data-panel="([a-z]+)"', alem))
    # the doses and the start are marked on the grid's own row
    assert 'data-event="infusion" data-on="2025-04-21"' in alem and ">C1<" in alem
    assert f'data-event="start" data-on="{ELI_NAT_START.isoformat()}"' in nat
    assert f'data-protocol="site_nat" data-panel="lft" data-due="{SHARED}"' in nat
    # the record box lists both treatments, the charts key says both kinds of date
    facts = section(page, 'id="treatments"', "</dd>")
    assert "Alemtuzumab (Lemtrada)" in facts and "Site natalizumab" in facts and "ongoing" in facts
    assert "treatment started" in section(page, 'class="chart-key"', "</div>")


def test_waiving_chooses_one_of_two_series(nurse: TestClient, engine: Engine, eli: str) -> None:
    page = nurse.get(f"/patients/{eli}").text
    options = dict(re.findall(r'<option value="([^"|]+\|[^"]+)">([^<]+)</option>', page))
    assert f"alemtuzumab|lft|{SHARED}" in options and f"site_nat|lft|{SHARED}" in options
    assert "Site natalizumab" in options[f"site_nat|lft|{SHARED}"], "two protocols: named"

    response = post(
        nurse, f"/patients/{eli}/waive", slot=f"site_nat|lft|{SHARED}", reason="done at the GP"
    )
    assert response.status_code == 303
    with unit_of_work(engine) as session:
        waiver = session.scalars(select(Waiver)).one()
        assert (waiver.protocol, waiver.panel, waiver.due_on) == ("site_nat", "lft", SHARED_LFT_DUE)
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "slot.waive"))
        assert entry.after is not None and entry.after["protocol"] == "site_nat"
    page = nurse.get(f"/patients/{eli}").text
    assert "under Site natalizumab is waived" in page
    cells = dict(
        re.findall(
            rf'data-protocol="([a-z_]+)" data-panel="lft" data-due="{SHARED}" '
            r'data-status="([a-z]+)"',
            page,
        )
    )
    assert cells == {"site_nat": "waived", "alemtuzumab": "overdue"}
    overdue = section(nurse.get("/").text, 'id="overdue"', 'id="unreachable"')
    assert 'data-protocol="alemtuzumab" title="lft due 25 May 2026' in overdue
    assert 'data-protocol="site_nat" title="lft due 25 May 2026' not in overdue


def test_a_waiver_without_its_protocol_is_refused(
    nurse: TestClient, engine: Engine, eli: str
) -> None:
    response = post(nurse, f"/patients/{eli}/waive", slot=f"lft|{SHARED}", reason="done")
    assert response.status_code == 400
    assert "choose the test to waive from the list" in response.text
    with unit_of_work(engine) as session:
        assert session.scalars(select(Waiver)).first() is None


def test_starting_and_stopping_a_treatment_from_the_page(
    nurse: TestClient, engine: Engine, eli: str
) -> None:
    path = f"/patients/{eli}"
    again = post(nurse, path + "/treatments/start", protocol="site_nat", on=TODAY.isoformat())
    assert again.status_code == 400 and "already has an open site_nat treatment" in again.text
    early = post(nurse, path + "/treatments/stop", protocol="site_nat", on="2026-01-01")
    assert early.status_code == 400 and "before the treatment&#39;s start" in early.text
    courses = post(nurse, path + "/treatments/start", protocol="alemtuzumab", on="2026-06-01")
    assert courses.status_code == 400 and "given in courses" in courses.text

    stopped = post(
        nurse, path + "/treatments/stop", protocol="site_nat", on="2026-06-10", reason="JCV+"
    )
    assert stopped.status_code == 303
    page = nurse.get(path).text
    assert "Site natalizumab stopped on 10 Jun 2026" in page
    nat = section(page, 'id="treatment-2" data-protocol="site_nat"', "</section>")
    assert "stopped 10 Jun 2026" in nat and 'data-event="stop" data-on="2026-06-10"' in nat
    assert "No ongoing treatment to stop" in page
    with unit_of_work(engine) as session:
        treatment = session.scalars(select(Treatment).where(Treatment.protocol == "site_nat")).one()
        assert (treatment.stopped_on.isoformat(), treatment.stop_reason) == ("2026-06-10", "JCV+")
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action.in_(["treatment.stop"]))
        ).all()
        assert actors == ["web:nina"]


def test_a_nurse_waives_one_series_in_the_browser(
    page: Page, live_server: str, eli: str, shots: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_page(page, live_server)
    overdue = page.locator("#overdue")
    nat = overdue.locator('.series[data-protocol="site_nat"]')
    expect(nat).to_contain_text("Site natalizumab")
    expect(nat).to_contain_text("lft · 25 May 2026")
    page.screenshot(path=str(shots / "today-two-treatments.png"), full_page=True)
    overdue.get_by_role("link", name="Eli Stone").click()
    expect(page.locator(".treatment-grid")).to_have_count(2)
    expect(page.locator("#treatment-2 h3")).to_contain_text("Site natalizumab")

    page.locator("select[name=slot]").select_option(f"site_nat|lft|{SHARED}")
    page.get_by_label("Reason").first.fill("Done at the GP")
    page.get_by_role("button", name="Waive").click()
    expect(page.locator(".flash.ok")).to_contain_text("under Site natalizumab is waived")
    shared = f'[data-panel="lft"][data-due="{SHARED}"]'
    expect(page.locator(f"#treatment-2 {shared}")).to_have_attribute("data-status", "waived")
    expect(page.locator(f"#treatment-1 {shared}")).to_have_attribute("data-status", "overdue")
    page.screenshot(path=str(shots / "patient-two-treatments.png"), full_page=True)


def test_the_charts_mark_the_doses_and_the_start(nurse: TestClient, eli: str) -> None:
    recorded = post(
        nurse,
        f"/patients/{eli}/results",
        analyte="alt",
        value="25",
        unit="U/L",
        collected_on=TODAY.isoformat(),
    )
    assert recorded.status_code == 303
    alt = section(nurse.get(f"/patients/{eli}").text, 'aria-label="ALT over time', "</svg>")
    assert alt.count('class="infusion"') == 5, "each dose of course 1"
    assert "<title>Site natalizumab: started 2026-03-25</title>" in alt
    assert alt.count('class="start"') == 1 and 'class="stop"' not in alt
