"""The Reports page in a real browser (Debian's Chromium through Playwright, a real uvicorn
server): reached from the nav, filtered with its form, both charts drawn, and printed to PDF
(read back with pdftotext) without the form, on a generated clinic."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine

from tests.reports_clinic import store_clinic
from tests.web.conftest import sign_in_page as sign_in


def test_a_service_lead_filters_and_prints_the_report(
    page: Page, live_server: str, engine: Engine, shots: Path, tmp_path: Path
) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    store_clinic(engine, seed=5, size=30)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Adherence")

    page.get_by_label("From", exact=True).fill("2025-01-01")
    page.get_by_label("To", exact=True).fill("2025-12-31")
    page.get_by_label("Site").select_option("north")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("#adherence-rows tbody tr")
    expect(rows.first).to_be_visible()
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.site)")) == {"north"}
    months = rows.evaluate_all("rs => rs.map(r => r.dataset.month)")
    assert min(months) >= "2025-01" and max(months) <= "2025-12"
    expect(page.locator("svg.report-chart")).to_have_count(2)
    expect(page.locator("svg.report-chart polyline").first).to_be_visible()
    page.screenshot(path=str(shots / "reports.png"), full_page=True)

    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "adherence to monitoring, slots due 01 Jan 2025 to 31 Dec 2025, north" in text
    assert "By month, site and panel" in text and "On time, by month and panel" in text
    assert "Show" not in text and "Sign out" not in text  # no form, no nav on paper
