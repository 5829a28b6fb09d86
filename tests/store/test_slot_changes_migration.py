"""Revision 0012 (`slot_changes`, the unit of work's record of rebuilt patients) up, down and up
again with data in the database, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Engine, inspect, text

from monitor.store.migrate import current_revision, downgrade, upgrade
from monitor.store.types import UTCDateTime
from tests.store.test_migrations import fresh_engine  # noqa: F401  (the fixture)

CHANGED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# The columns patients had at 0012 (the model's later ones carry Python defaults).
PATIENTS = sa.table(
    "patients",
    *(sa.column(name) for name in ("id", "mrn", "name", "email_opted_out", "site", "status")),
    sa.column("created_at", UTCDateTime()),
)
AT_0012 = {"email_opted_out": False, "site": "main", "status": "active"}
SLOT_CHANGES = sa.table(
    "slot_changes",
    sa.column("id", sa.Integer),
    sa.column("patient_id", sa.Integer),
    sa.column("changed_at", sa.DateTime(timezone=True)),
)


def record(engine: Engine, *patient_ids: int) -> None:
    with engine.begin() as connection:
        rows = [{"patient_id": pid, "changed_at": CHANGED_AT} for pid in patient_ids]
        connection.execute(SLOT_CHANGES.insert(), rows)


def recorded(engine: Engine) -> list[tuple[int, int]]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(SLOT_CHANGES.c.id, SLOT_CHANGES.c.patient_id))
        return [(change_id, patient_id) for change_id, patient_id in found]


def patients(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT mrn FROM patients ORDER BY id")))


def test_0012_slot_changes_go_up_down_and_up_with_data(fresh_engine):  # noqa: F811
    upgrade(fresh_engine, "0010")
    with fresh_engine.begin() as connection:
        connection.execute(
            PATIENTS.insert(),
            [
                {"id": 1, "mrn": "M1", "name": "Patient M1", "created_at": CHANGED_AT, **AT_0012},
                {"id": 2, "mrn": "M2", "name": "Patient M2", "created_at": CHANGED_AT, **AT_0012},
            ],
        )

    upgrade(fresh_engine, "0012")
    assert current_revision(fresh_engine) == "0012"
    assert recorded(fresh_engine) == [], "the record starts empty"
    record(fresh_engine, 1, 2, 1)
    assert [pid for _, pid in recorded(fresh_engine)] == [1, 2, 1]
    with fresh_engine.begin() as connection:  # pruned to empty, the ids go on counting
        connection.execute(SLOT_CHANGES.delete())
    record(fresh_engine, 2)
    assert recorded(fresh_engine) == [(4, 2)]

    downgrade(fresh_engine, "0010")
    assert "slot_changes" not in inspect(fresh_engine).get_table_names()
    assert patients(fresh_engine) == ["M1", "M2"]

    upgrade(fresh_engine)
    assert recorded(fresh_engine) == []
    record(fresh_engine, 1)
    assert [pid for _, pid in recorded(fresh_engine)] == [1]
    assert patients(fresh_engine) == ["M1", "M2"]
