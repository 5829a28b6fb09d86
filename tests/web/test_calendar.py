"""The live calendar `/calendar/<token>.ics` through the app: parsed with icalendar; UIDs kept
across rebuilds and a new course; an event gone when its slot is waived or cancelled; a revoked
or replaced link is 404; SPEC §5's words only. Over a real `monitor serve`: test_fhir_process."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from monitor.config import Config
from monitor.services.access.calendars import issue_calendar, revoke_calendar
from monitor.services.people.courses import add_course
from monitor.services.people.patients import change_status
from monitor.services.schedule.fingerprints import rebuild_schedules
from monitor.services.schedule.waivers import waive_slot
from monitor.store.db import unit_of_work
from monitor.store.models import AuditEntry, Patient, Slot
from tests.web.clinic import NOW, TODAY, Clinic

FORBIDDEN = re.compile(
    r"alemtuzumab|lemtrada|campath|sclerosis|multiple|Sam|Moss|D400|1990|result|flag|platelet",
    re.IGNORECASE,
)


def link(engine: Engine, mrn: str) -> str:
    with unit_of_work(engine) as session:
        token = issue_calendar(session, mrn, actor="test", now=NOW)
    return f"/calendar/{token}.ics"


def events(client: TestClient, path: str) -> dict[str, tuple[date, str]]:
    """UID -> (day, description) of every event the URL serves."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["cache-control"].startswith("private")
    calendar = Calendar.from_ical(response.content)
    found = {}
    for event in calendar.walk("VEVENT"):
        start = event.decoded("dtstart")
        assert isinstance(start, date) and event.decoded("dtend") == start + timedelta(days=1)
        found[str(event["uid"])] = (start, str(event["description"]))
    return found


def test_the_calendar_lists_upcoming_tests_in_plain_words(
    client: TestClient, engine: Engine, clinic: Clinic
) -> None:
    path = link(engine, clinic.sam)
    response = client.get(path)
    assert "set-cookie" not in response.headers
    assert not FORBIDDEN.search(response.text), FORBIDDEN.search(response.text)
    found = events(client, path)
    assert found
    assert all(day >= TODAY - timedelta(days=14) for day, _ in found.values())
    assert all("Questions? Call 0100 000 0000." in text for _, text in found.values())
    assert any("blood and urine tests, due by" in text for _, text in found.values())
    assert len({day for day, _ in found.values()}) == len(found)  # one event per date
    assert "Tests due - Test MS Clinic" in response.text


def test_uids_survive_a_rebuild_and_a_new_course_adds_events(
    client: TestClient, engine: Engine, config: Config, clinic: Clinic
) -> None:
    path = link(engine, clinic.sam)
    before = events(client, path)
    rebuild_schedules(engine, config.catalogue, only_stale=False)  # every row anew
    assert events(client, path) == before
    second = [TODAY + timedelta(days=300 + d) for d in range(3)]
    with unit_of_work(engine, config.catalogue) as session:
        add_course(session, mrn=clinic.sam, infused_on=second, actor="test", now=NOW)
    after = events(client, path)
    # A series of the first course ends where the second's baseline begins; before that,
    # nothing moves.
    kept = {uid: when for uid, when in before.items() if when[0] < second[0] - timedelta(60)}
    moved = {when: after.get(uid) for uid, when in kept.items() if after.get(uid) != when}
    assert kept and not moved, moved
    new = set(after) - set(before)
    assert new and all(after[uid][0] >= second[0] - timedelta(60) for uid in new)
    assert max(day for day, _ in after.values()) > max(day for day, _ in before.values())


def test_a_waived_slot_leaves_and_a_stop_empties_the_calendar(
    client: TestClient, engine: Engine, config: Config, clinic: Clinic
) -> None:
    path = link(engine, clinic.sam)
    before = events(client, path)
    first_uid, (day, _) = min(before.items(), key=lambda item: item[1][0])
    with unit_of_work(engine, config.catalogue) as session:
        slots = session.execute(
            select(Slot.protocol, Slot.panel)
            .join(Patient, Patient.id == Slot.patient_id)
            .where(Patient.mrn == clinic.sam, Slot.due_on == day)
        ).all()
    assert slots
    for protocol, panel in slots:  # every test of that date
        with unit_of_work(engine, config.catalogue) as session:
            waive_slot(
                session,
                mrn=clinic.sam,
                panel=panel,
                protocol=protocol,
                due_on=day,
                by="nina",
                reason="done at the GP",
                now=NOW,
            )
    after = events(client, path)
    assert set(after) == set(before) - {first_uid}
    assert all(after[uid] == before[uid] for uid in after)
    with unit_of_work(engine, config.catalogue) as session:
        change_status(
            session,
            mrn=clinic.sam,
            status="withdrawn",
            on=TODAY,
            reason="moved away",
            actor="test",
            now=NOW,
        )
    assert events(client, path) == {}


def test_a_new_link_replaces_the_old_and_a_revoked_one_is_404(
    client: TestClient, engine: Engine, clinic: Clinic
) -> None:
    old = link(engine, clinic.sam)
    new = link(engine, clinic.sam)
    assert new != old
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    with unit_of_work(engine) as session:
        revoke_calendar(session, clinic.sam, actor="test", now=NOW)
        assert (
            session.scalar(select(Patient.calendar_token_hash).where(Patient.mrn == clinic.sam))
            is None
        )
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action.in_(["patient.calendar", "patient.calendar_revoke"]))
        )
    assert audited == 3
    gone = client.get(new)
    assert gone.status_code == 404
    assert "Sam" not in gone.text and "D400" not in gone.text


@pytest.mark.parametrize(
    "path", ["/calendar/", "/calendar/x.ics", "/calendar/abc", "/calendar/" + "a" * 200 + ".ics"]
)
def test_made_up_links_are_404(client: TestClient, clinic: Clinic, path: str) -> None:
    assert client.get(path).status_code == 404
