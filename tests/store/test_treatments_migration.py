"""Revision 0013 (treatments; slots, waivers and notices per protocol) up, down and up again with
data in the database, on SQLite and PostgreSQL: every existing course becomes an alemtuzumab
course, every slot keeps its dates and status columns."""

import pytest
from sqlalchemy import Engine, inspect, text

from monitor.store.migrate import downgrade, upgrade
from tests.store.test_migrations import fresh_engine  # noqa: F401  (the fixture)

SLOT_COLUMNS = (
    "patient_id, panel, due_on, window_start, window_end, course, kind, next_window_start, "
    "done_on, completed_on, is_waived, is_cancelled"
)


def rows(engine: Engine, sql: str) -> list[tuple[str | None, ...]]:
    with engine.connect() as connection:
        found = connection.execute(text(sql))
        return [tuple(None if v is None else str(v) for v in row) for row in found]


def insert_0012_clinic(engine: Engine) -> None:
    """Two patients with courses (one with two), one without, slots, a waiver and a notice."""
    statements = [
        "INSERT INTO patients (id, mrn, name, email_opted_out, site, status, created_at,"
        " schedule_fingerprint) VALUES (1, 'M1', 'A', false, 'main', 'active',"
        " '2026-01-01 09:00:00', 'f1'), (2, 'M2', 'B', false, 'main', 'active',"
        " '2026-01-01 09:00:00', NULL), (3, 'M3', 'C', false, 'main', 'active',"
        " '2026-01-01 09:00:00', NULL)",
        "INSERT INTO courses (id, patient_id, first_on, last_on, created_at) VALUES"
        " (1, 1, '2024-01-08', '2024-01-12', '2024-01-01 09:00:00'),"
        " (2, 1, '2025-01-13', '2025-01-15', '2025-01-01 09:00:00'),"
        " (3, 2, '2024-06-03', '2024-06-07', '2024-06-01 09:00:00')",
        "INSERT INTO infusions (course_id, infused_on) VALUES (1, '2024-01-08'),"
        " (1, '2024-01-12'), (2, '2025-01-13'), (2, '2025-01-15'), (3, '2024-06-03')",
        f"INSERT INTO slots ({SLOT_COLUMNS}) VALUES"
        " (1, 'cbc', '2024-02-12', '2024-02-05', '2024-02-19', 1, 'recurring', '2024-03-05',"
        " '2024-02-10', '2024-02-10', false, false),"
        " (1, 'tsh', '2024-04-12', '2024-03-29', '2024-04-26', 1, 'recurring', NULL, NULL,"
        " NULL, true, false),"
        " (2, 'cbc', '2024-07-07', '2024-06-30', '2024-07-14', 1, 'recurring', NULL, NULL,"
        " '2024-07-20', false, true)",
        "INSERT INTO waivers (patient_id, panel, due_on, waived_by, reason, waived_at) VALUES"
        " (1, 'tsh', '2024-04-12', 'Nurse', 'done elsewhere', '2024-04-01 09:00:00')",
        "INSERT INTO notices (patient_id, panel, due_on, message, step, run_on) VALUES"
        " (1, 'cbc', '2024-02-12', 'due-reminder', 0, '2024-02-05')",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_0013_makes_every_course_alemtuzumab_and_keeps_every_slot(fresh_engine):  # noqa: F811
    upgrade(fresh_engine, "0012")
    insert_0012_clinic(fresh_engine)
    slots_before = rows(fresh_engine, f"SELECT {SLOT_COLUMNS} FROM slots ORDER BY id")

    upgrade(fresh_engine, "0013")
    assert rows(
        fresh_engine,
        "SELECT patient_id, protocol, started_on, stopped_on, schedule_fingerprint"
        " FROM treatments ORDER BY patient_id",
    ) == [
        ("1", "alemtuzumab", "2024-01-08", None, "f1"),
        ("2", "alemtuzumab", "2024-06-03", None, None),
    ]
    assert rows(
        fresh_engine,
        "SELECT c.id, t.patient_id FROM courses c JOIN treatments t ON t.id = c.treatment_id"
        " ORDER BY c.id",
    ) == [("1", "1"), ("2", "1"), ("3", "2")]
    assert rows(fresh_engine, f"SELECT {SLOT_COLUMNS} FROM slots ORDER BY id") == slots_before
    assert set(rows(fresh_engine, "SELECT protocol, treatment FROM slots")) == {
        ("alemtuzumab", "1")
    }
    assert rows(fresh_engine, "SELECT protocol FROM waivers") == [("alemtuzumab",)]
    assert rows(fresh_engine, "SELECT protocol FROM notices") == [("alemtuzumab",)]
    assert "schedule_fingerprint" not in columns(fresh_engine, "patients")

    downgrade(fresh_engine, "0012")
    assert "treatments" not in inspect(fresh_engine).get_table_names()
    assert rows(fresh_engine, f"SELECT {SLOT_COLUMNS} FROM slots ORDER BY id") == slots_before
    assert rows(fresh_engine, "SELECT id, schedule_fingerprint FROM patients ORDER BY id") == [
        ("1", "f1"), ("2", None), ("3", None),
    ]  # fmt: skip
    assert "protocol" not in columns(fresh_engine, "waivers")

    upgrade(fresh_engine)
    assert rows(fresh_engine, f"SELECT {SLOT_COLUMNS} FROM slots ORDER BY id") == slots_before
    assert len(rows(fresh_engine, "SELECT id FROM treatments")) == 2


def test_0013_refuses_to_go_down_while_another_protocol_is_recorded(fresh_engine):  # noqa: F811
    upgrade(fresh_engine, "0012")
    insert_0012_clinic(fresh_engine)
    upgrade(fresh_engine, "0013")
    with fresh_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO treatments (patient_id, protocol, started_on, created_at)"
                " VALUES (3, 'natalizumab', '2025-01-01', '2025-01-01 09:00:00')"
            )
        )

    with pytest.raises(Exception, match="other than alemtuzumab"):
        downgrade(fresh_engine, "0012")
    assert "treatments" in inspect(fresh_engine).get_table_names()


def columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}
