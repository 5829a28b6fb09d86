"""Revision 0015_report_index (the slots' covering index by due date, for the adherence
reports) up, down and up again with a clinic in it, on SQLite and PostgreSQL."""

from sqlalchemy import inspect

from monitor.store.migrate import current_revision, downgrade, upgrade
from tests.store.test_migrations import fresh_engine  # noqa: F401  (the fixture)
from tests.store.test_treatments_migration import insert_0012_clinic, rows

SLOTS = "SELECT patient_id, protocol, panel, due_on, done_on FROM slots ORDER BY id"


def slot_indexes(engine):
    return {index["name"] for index in inspect(engine).get_indexes("slots")}


def test_0015_goes_up_down_and_up_with_slots_in_it(fresh_engine):  # noqa: F811
    upgrade(fresh_engine, "0012")
    insert_0012_clinic(fresh_engine)
    upgrade(fresh_engine, "0014")
    before = rows(fresh_engine, SLOTS)
    assert before, "the clinic has slots"
    assert "ix_slots_due_on" not in slot_indexes(fresh_engine)

    upgrade(fresh_engine, "0015_report_index")
    assert "ix_slots_due_on" in slot_indexes(fresh_engine)
    assert rows(fresh_engine, SLOTS) == before

    downgrade(fresh_engine, "0014")
    assert current_revision(fresh_engine) == "0014"
    assert "ix_slots_due_on" not in slot_indexes(fresh_engine)
    assert rows(fresh_engine, SLOTS) == before

    upgrade(fresh_engine, "0015_report_index")
    assert "ix_slots_due_on" in slot_indexes(fresh_engine)
    assert rows(fresh_engine, SLOTS) == before
