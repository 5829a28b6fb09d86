"""Revision 0009 (the protocol fingerprint of each patient's slots), up, down and up again with
data in the database, on SQLite and PostgreSQL.

Slots stored before 0009 came from an unknown protocol: after the upgrade their patients are
stale (NULL fingerprint) until a rebuild, while patients without slots are not.
"""

from datetime import UTC, date, datetime

from sqlalchemy import Engine, column, func, inspect, select, table, text

from monitor.config import Config
from monitor.services.schedule.fingerprints import count_stale_patients, rebuild_schedules
from monitor.store.db import unit_of_work
from monitor.store.migrate import current_revision, downgrade, upgrade
from monitor.store.models import Base
from monitor.store.types import UTCDateTime
from tests.store.test_migrations import fresh_engine  # noqa: F401  (the fixture)

PROTOCOL = Config().catalogue
TABLES = Base.metadata.tables
CREATED_AT = datetime(2024, 1, 1, tzinfo=UTC)
# The model's patients table has later columns with Python defaults (channel); 0008 had these.
PATIENTS_AT_0008 = table(
    "patients",
    *(column(name) for name in ("id", "mrn", "name", "email_opted_out", "site", "status")),
    column("created_at", UTCDateTime()),
)


def store_at_0008(engine: Engine) -> None:
    """Two patients, one with a course and one slot (written as 0008's columns, by hand)."""
    with engine.begin() as connection:
        for patient_id, mrn in ((1, "M1"), (2, "M2")):
            connection.execute(
                PATIENTS_AT_0008.insert(),
                {
                    "id": patient_id,
                    "mrn": mrn,
                    "name": f"Patient {mrn}",
                    "email_opted_out": False,
                    "site": "main",
                    "status": "active",
                    "created_at": CREATED_AT,
                },
            )
        connection.execute(
            TABLES["courses"].insert(),
            {
                "id": 1,
                "patient_id": 1,
                "first_on": date(2024, 1, 8),
                "last_on": date(2024, 1, 12),
                "created_at": CREATED_AT,
            },
        )
        connection.execute(
            TABLES["infusions"].insert(),
            [{"course_id": 1, "infused_on": date(2024, 1, 8 + n)} for n in range(5)],
        )
        connection.execute(
            TABLES["slots"].insert(),
            {
                "patient_id": 1,
                "panel": "cbc",
                "due_on": date(2024, 2, 12),
                "window_start": date(2024, 2, 5),
                "window_end": date(2024, 2, 19),
                "course": 1,
                "kind": "recurring",
            },
        )


def patient_columns(engine: Engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("patients")}


def unknown_fingerprints(engine: Engine) -> int:
    """At revision 0009-0012: patients with stored slots and no fingerprint (stale then)."""
    query = text(
        "SELECT count(*) FROM patients p WHERE p.schedule_fingerprint IS NULL"
        " AND EXISTS (SELECT 1 FROM slots s WHERE s.patient_id = p.id)"
    )
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        patients = connection.scalar(select(func.count()).select_from(TABLES["patients"]))
        slots = connection.scalar(select(func.count()).select_from(TABLES["slots"]))
    return patients or 0, slots or 0


def test_0009_up_down_and_up_again_with_slots_in_the_database(fresh_engine):  # noqa: F811
    upgrade(fresh_engine, "0008")
    store_at_0008(fresh_engine)

    upgrade(fresh_engine, "0009")

    assert "schedule_fingerprint" in patient_columns(fresh_engine)
    assert counts(fresh_engine) == (2, 1)
    assert unknown_fingerprints(fresh_engine) == 1  # M1's slot: built by whatever
    upgrade(fresh_engine)  # a rebuild also writes the later tables (slot_changes, 0012)
    assert rebuild_schedules(fresh_engine, PROTOCOL, only_stale=True).done == 1
    with unit_of_work(fresh_engine) as session:
        assert count_stale_patients(session, PROTOCOL) == 0
    rebuilt = counts(fresh_engine)

    downgrade(fresh_engine, "0008")

    assert current_revision(fresh_engine) == "0008"
    assert "schedule_fingerprint" not in patient_columns(fresh_engine)
    assert counts(fresh_engine) == rebuilt

    upgrade(fresh_engine, "0009")

    assert counts(fresh_engine) == rebuilt
    assert unknown_fingerprints(fresh_engine) == 1  # the fingerprints went with the column
