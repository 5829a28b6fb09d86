"""The worklist in a real browser (Debian's Chromium through Playwright) against a real
uvicorn server: sign in, read today's list, open a patient, act, and see the page change.

Screenshots go to $MONITOR_SCREENSHOTS when set (the README's come from
`MONITOR_SCREENSHOTS=docs/screenshots pytest tests/web/test_browser.py -k sqlite`), else to a
temporary folder, so every run still exercises them.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.clinic import Clinic
from tests.web.conftest import sign_in_page as sign_in


def test_a_nurse_works_through_todays_list(
    page: Page, live_server: str, clinic: Clinic, shots: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    overdue = page.locator("#overdue")
    expect(overdue).to_contain_text("Alex Rivers")
    expect(page.locator("#alerts")).to_contain_text("urgent")
    expect(page.locator("#unreachable")).to_contain_text("no email address on file")
    page.screenshot(path=str(shots / "today.png"), full_page=True)

    overdue.get_by_role("link", name="Alex Rivers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alex Rivers")

    acknowledge = page.locator("#flags").get_by_role("button", name="Acknowledge")
    open_flags = acknowledge.count()
    assert open_flags >= 1
    acknowledge.first.click()
    expect(page.locator(".flash.ok")).to_contain_text("acknowledged")
    expect(acknowledge).to_have_count(open_flags - 1)

    cbc = page.locator("select[name=slot] option", has_text="cbc").first.get_attribute("value")
    assert cbc is not None
    page.locator("select[name=slot]").select_option(cbc)
    page.get_by_label("Reason").first.fill("Done at the GP; paper result seen")
    page.get_by_role("button", name="Waive").click()
    expect(page.locator(".flash.ok")).to_contain_text("waived")
    _, panel, due = cbc.split("|")
    expect(cell(page, panel, due)).to_have_attribute("data-status", "waived")

    overdue_cell = page.locator('[data-panel="creatinine"][data-status="overdue"]').first
    due_on = overdue_cell.get_attribute("data-due")
    assert due_on is not None
    form = page.locator("form[action$='/results']")
    form.locator("select[name=analyte]").select_option("creatinine")
    form.locator("input[name=value]").fill("71")
    form.locator("input[name=unit]").fill("umol/L")
    form.get_by_role("button", name="Record result").click()
    expect(page.locator(".flash.ok")).to_contain_text("Result recorded")
    expect(cell(page, "creatinine", due_on)).to_have_attribute("data-status", "late")
    page.screenshot(path=str(shots / "patient.png"), full_page=True)

    page.goto(live_server + "/audit")
    for action in ("user.login", "flag.acknowledge", "slot.waive", "result.add"):
        expect(page.locator("table")).to_contain_text(action)
    page.screenshot(path=str(shots / "audit.png"), full_page=True)


def cell(page: Page, panel: str, due: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-panel="{panel}"][data-due="{due}"]')


def test_lists_render_in_the_browser(
    page: Page, live_server: str, clinic: Clinic, shots: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.set_viewport_size({"width": 1280, "height": 480})  # a short page: no empty margin
    page.goto(live_server + "/flags?status=")
    expect(page.get_by_role("heading", level=1)).to_have_text("Flags")
    expect(page.locator("table")).to_contain_text("Alex Rivers")
    page.screenshot(path=str(shots / "flags.png"), full_page=True)
    page.goto(live_server + "/quarantine")
    expect(page.get_by_role("heading", level=1)).to_have_text("Quarantine")


def test_the_today_list_reads_on_a_tablet(page: Page, live_server: str, clinic: Clinic) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, live_server)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, "the Today page scrolls sideways on a tablet"


def test_a_clinician_reads_the_protocols_from_the_nav(
    page: Page, live_server: str, clinic: Clinic, shots: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Protocols").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Protocols")
    skin = page.locator('#protocol-alemtuzumab tr[data-panel="skin"]')
    expect(skin).to_contain_text("before each course's first dose (baseline), then every 12 months")
    expect(skin).to_contain_text("30 days before to 30 days after the due date")
    page.screenshot(path=str(shots / "protocols.png"), full_page=True)
