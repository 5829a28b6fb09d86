"""A repeat slot is on the Today page like any slot: Alex's platelets of 80 three days ago ask
for a blood count again within 7 days (due on the 19th, inside this week), while Alex's regular
tests all fall due on the 25th of a month (tests/web/clinic.py: the course ended 25 April 2025),
so nothing else puts Alex on this week's list."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.web.clinic import Clinic


def test_the_repeat_puts_the_patient_on_this_weeks_list(nurse: TestClient, clinic: Clinic) -> None:
    week = nurse.get("/").text.split('id="week"')[1]
    assert "Alex Rivers" in week
    assert "Robin Hale" not in week  # same course, no repeat asked
