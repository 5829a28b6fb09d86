"""Editing the record in a real browser (Debian's Chromium through Playwright, a real uvicorn):
find a patient, add one, correct a course, void a result (issue 14 item 2)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.clinic import TODAY, XSS_NAME, Clinic
from tests.web.conftest import sign_in_page as sign_in


def test_a_nurse_finds_a_patient_by_part_of_the_name(
    page: Page, live_server: str, clinic: Clinic, shots: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    expect(page.locator("#patient-list")).to_contain_text("Robin Hale")

    page.get_by_label("MRN or name").fill("RIVERS al")
    page.get_by_role("button", name="Find").click()

    expect(page.locator("#patients h2")).to_contain_text("1 match for")
    expect(page.locator("#patient-list tbody tr")).to_have_count(1)
    assert "RIVERS" not in page.url  # the search is posted, never in the address
    page.screenshot(path=str(shots / "patients.png"), full_page=True)
    page.locator("#patient-list").get_by_role("link", name="Alex Rivers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alex Rivers")


def test_a_nurse_adds_a_patient_and_the_name_stays_text(
    page: Page, live_server: str, clinic: Clinic
) -> None:
    sign_in(page, live_server)
    page.goto(live_server + "/patients")
    form = page.locator("#add-patient form")
    form.get_by_label("MRN").fill("N600")
    form.get_by_label("Name").fill(XSS_NAME)
    form.get_by_label("Date of birth").fill("1991-04-05")
    form.get_by_label("Sex").select_option("M")
    form.get_by_label("Site").select_option("north")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    form.get_by_role("button", name="Add patient").click()

    expect(page.locator(".flash.ok")).to_contain_text("Patient added")
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS_NAME)
    expect(page.locator(".page-head .muted")).to_contain_text("MRN N600 · site north")
    assert dialogs == []  # the name was shown as text, never run

    page.goto(live_server + "/patients")
    form.get_by_label("MRN").fill("N600")
    form.get_by_label("Name").fill("Someone Else")
    form.get_by_role("button", name="Add patient").click()
    expect(page.locator(".flash.error")).to_contain_text("already exists")


def test_a_nurse_corrects_a_course_and_the_schedule_follows(
    page: Page, live_server: str, clinic: Clinic
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.goto(f"{live_server}/patients/{clinic.sam}")
    course = page.locator('#course-edits details[data-course="1"]')
    course.locator("summary").click()
    dates = course.locator("input[name=dates]")
    typed = dates.input_value().split(", ")
    moved = [(TODAY - timedelta(days=26) + timedelta(days=n)).isoformat() for n in range(5)]
    assert typed != moved
    first_cbc = page.locator('[data-panel="cbc"]').first.get_attribute("data-due")

    dates.fill(", ".join(moved))
    course.get_by_label("Reason").fill("typed the week before the real one")
    course.get_by_role("button", name="Correct course 1").click()

    expect(page.locator(".flash.ok")).to_contain_text("Course 1 corrected")
    summary = page.locator('#course-edits details[data-course="1"] summary')
    expect(summary).to_contain_text("(5 doses)")
    expect(page.locator(f'[data-event="infusion"][data-on="{moved[0]}"]')).to_have_count(1)
    expect(page.locator(f'[data-event="infusion"][data-on="{typed[0]}"]')).to_have_count(0)
    assert page.locator('[data-panel="cbc"]').first.get_attribute("data-due") != first_cbc
    page.goto(f"{live_server}/audit/patients/{clinic.sam}")
    expect(page.locator("table")).to_contain_text("course.correct")
    expect(page.locator("table")).to_contain_text("typed the week before the real one")


def test_a_nurse_voids_a_result_entered_in_error(
    page: Page, live_server: str, clinic: Clinic
) -> None:
    sign_in(page, live_server)
    page.goto(f"{live_server}/patients/{clinic.alex}")
    expect(page.locator("#flags")).to_contain_text("platelets 80")
    edit = page.locator("#result-edits details", has_text="platelets: 80").first
    result_id = edit.get_attribute("data-result")
    edit.locator("summary").click()

    edit.get_by_label("Reason it was entered in error").fill("another patient's sample")
    edit.get_by_role("button", name=f"Void result {result_id}").click()

    expect(page.locator(".flash.ok")).to_contain_text(f"Result {result_id} marked entered in error")
    expect(page.locator(f'#result-edits details[data-result="{result_id}"]')).to_have_count(0)
    expect(page.locator("#results")).to_contain_text("entered-in-error")
    expect(page.locator("#flags")).to_have_count(0)  # its only open flag was superseded
