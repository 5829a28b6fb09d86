"""Recording a contact from the Today page in a real browser (Debian's Chromium, Playwright,
a real uvicorn): the note is shown as text, never run; a forged CSRF token is refused; a
booking hides the patient, with a way to show them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, func, select

from monitor.store.db import unit_of_work
from monitor.store.models import Contact
from tests.web.clinic import TODAY, Clinic
from tests.web.conftest import sign_in_page as sign_in

NOTE = "<script>window.pwned = 1</script> call back after 2pm"


def stored(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(Contact)) or 0


def alex_row(page: Page, clinic: Clinic):  # type: ignore[no-untyped-def]
    return page.locator("#overdue tbody tr", has=page.locator(f'[data-mrn="{clinic.alex}"]'))


def test_a_nurse_records_contacts_from_today(
    page: Page, live_server: str, clinic: Clinic, engine: Engine, shots: Path
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, live_server)
    row = alex_row(page, clinic)
    expect(row.locator(".last-contact")).to_have_text("no contact yet")

    row.locator("summary", has_text="Record").click()
    row.get_by_label(f"Outcome for {clinic.alex}").select_option("left-message")
    row.get_by_label(f"Note for {clinic.alex}").fill(NOTE)
    row.get_by_role("button", name="Save contact").click()

    expect(page.locator(".flash.ok")).to_contain_text("Contact recorded: left-message")
    row = alex_row(page, clinic)
    expect(row.locator(".last-contact")).to_contain_text("left-message")
    expect(row.locator(".contact-note")).to_have_text(NOTE)  # the markup is text on the page
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert dialogs == []
    page.screenshot(path=str(shots / "today-contact.png"), full_page=True)

    # A forged token: the server refuses the form and stores nothing.
    row.locator("summary", has_text="Record").click()
    row.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
    row.get_by_label(f"Outcome for {clinic.alex}").select_option("reached")
    row.get_by_role("button", name="Save contact").click()
    expect(page.locator("body")).to_contain_text("The form has expired")
    assert stored(engine) == 1

    # A booking two days ahead hides Alex, counted, with a link to show the booked patients.
    page.goto(live_server + "/")
    row = alex_row(page, clinic)
    row.locator("summary", has_text="Record").click()
    row.get_by_label(f"Outcome for {clinic.alex}").select_option("booked")
    row.get_by_label(f"Booked date for {clinic.alex}").fill((TODAY + timedelta(days=2)).isoformat())
    row.get_by_role("button", name="Save contact").click()
    expect(page.locator(".flash.ok")).to_contain_text("Contact recorded: booked for")
    expect(alex_row(page, clinic)).to_have_count(0)
    hidden = page.locator("#booked-hidden")
    expect(hidden).to_contain_text("1 booked, hidden")
    hidden.get_by_role("link", name="Show them").click()
    expect(alex_row(page, clinic).locator(".badge.booked")).to_contain_text("booked")
    assert stored(engine) == 2
