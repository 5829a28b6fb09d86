"""The Protocols page: every configured protocol with its panels in plain words, for any
signed-in member of staff, escaped (protocol names and words come from config files)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from monitor.config import Config
from tests.conftest import clinic_config
from tests.web.conftest import sign_in

TERIFLUNOMIDE = {
    "name": "Teriflunomide <script>alert(1)</script>",
    "kind": "continuous",
    "after_stop_months": 3,
    "panels": {
        "lft": {
            "analytes": ["alt"],
            "baseline": True,
            "patient_words": "your liver <b>blood</b> test",
            "phases": [{"every": "2w", "until": "6m"}, {"every": "8w"}],
        },
        "pregnancy": {
            "analytes": ["tsh"],
            "sex": "F",
            "window_before_days": 0,
            "phases": [{"at": ["2m", "6m"]}, {"every": "12m", "from": "6m"}],
        },
    },
}


@pytest.fixture
def config() -> Config:
    return clinic_config({"protocols": {"teriflunomide": TERIFLUNOMIDE}})


def section(page: str, protocol_id: str) -> str:
    return page.split(f'id="protocol-{protocol_id}"')[1].split("</section>")[0]


def row(part: str, panel: str) -> str:
    return " ".join(part.split(f'data-panel="{panel}"')[1].split("</tr>")[0].split())


def test_the_page_lists_each_protocol_and_its_panels_in_words(nurse: TestClient) -> None:
    response = nurse.get("/protocols")

    assert response.status_code == 200
    page = response.text
    assert page.index('id="protocol-alemtuzumab"') < page.index('id="protocol-teriflunomide"')
    alemtuzumab = section(page, "alemtuzumab")
    assert "Alemtuzumab (Lemtrada)" in alemtuzumab
    assert "Monitoring ends 48 months after the last dose of the last course." in alemtuzumab
    cbc = row(alemtuzumab, "cbc")
    assert "platelets, neutrophils, hemoglobin" in cbc
    assert "before each course&#39;s first dose (baseline), then every month<" in cbc
    assert "7 days before to 7 days after the due date" in cbc
    assert "then every 12 months" in row(alemtuzumab, "skin")
    assert "14 days before to 14 days after" in row(alemtuzumab, "tsh")

    teriflunomide = section(page, "teriflunomide")
    assert "for 3 months after a stop." in teriflunomide
    lft = row(teriflunomide, "lft")
    assert "at the start (baseline), then every 2 weeks for 6 months, then every 8 weeks" in lft
    assert "your liver &lt;b&gt;blood&lt;/b&gt; test" in lft
    pregnancy = row(teriflunomide, "pregnancy")
    assert "at 2 and 6 months, then every 12 months; women only" in pregnancy
    assert "the due date to 7 days after the due date" in pregnancy


def test_names_from_config_are_shown_as_text(nurse: TestClient) -> None:
    page = nurse.get("/protocols").text

    assert "<script>alert(1)" not in page and "<b>blood" not in page
    assert "Teriflunomide &lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_nav_links_the_page_for_every_role(client: TestClient) -> None:
    for name in ("nina", "adam"):
        assert sign_in(client, name).status_code == 303
        assert '<a href="/protocols"' in client.get("/").text
        assert client.get("/protocols").status_code == 200
        client.cookies.clear()


def test_signing_in_is_required(client: TestClient) -> None:
    response = client.get("/protocols")

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
