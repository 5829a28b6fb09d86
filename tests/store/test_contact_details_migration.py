"""Revision 0014 (phone, address, channel, calendar token; outbox channel; repeat dates; the
contact log; API tokens) up, down and up again with data in it, on SQLite and PostgreSQL, and
the downgrade refused while the outbox holds a letter."""

import pytest
from sqlalchemy import Engine, inspect, text

from monitor.store.migrate import current_revision, downgrade, upgrade
from tests.store.test_migrations import fresh_engine  # noqa: F401  (the fixture)
from tests.store.test_treatments_migration import insert_0012_clinic, rows


def insert_outbox_email(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (id, message, recipient, patient_id, subject, body_text,"
                " message_id, dedupe_key, status, attempts, created_at) VALUES (1,"
                " 'patient-tests-due', 'a@example.org', 1, 'Reminder', 'text', '<m1@x>', 'k1',"
                " 'pending', 0, '2026-01-01 09:00:00')"
            )
        )


def test_0014_goes_up_down_and_up_with_contacts_and_channels(fresh_engine):  # noqa: F811
    upgrade(fresh_engine, "0012")
    insert_0012_clinic(fresh_engine)
    upgrade(fresh_engine, "0013")
    insert_outbox_email(fresh_engine)

    upgrade(fresh_engine, "0014")
    assert rows(fresh_engine, "SELECT mrn, channel, phone FROM patients ORDER BY id") == [
        ("M1", "email", None),
        ("M2", "email", None),
        ("M3", "email", None),
    ]
    assert rows(fresh_engine, "SELECT channel FROM outbox") == [("email",)]
    with fresh_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE patients SET phone = '07700 900123', channel = 'sms',"
                " address = '1 High St', calendar_token_hash = 'h1' WHERE id = 1"
            )
        )
        connection.execute(
            text(
                "INSERT INTO contacts (patient_id, contacted_at, outcome, contact_by,"
                " booked_on) VALUES (1, '2026-01-02 10:00:00', 'booked', 'Nurse',"
                " '2026-01-08')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO api_tokens (name, token_hash, scopes, created_at, created_by)"
                " VALUES ('epr', 'abc', 'fhir:read', '2026-01-02 10:00:00', 'admin')"
            )
        )

    downgrade(fresh_engine, "0013")
    tables = set(inspect(fresh_engine).get_table_names())
    assert not {"contacts", "api_tokens"} & tables
    patient_columns = {c["name"] for c in inspect(fresh_engine).get_columns("patients")}
    assert not {"phone", "address", "channel", "calendar_token_hash"} & patient_columns
    assert rows(fresh_engine, "SELECT mrn FROM patients ORDER BY id") == [("M1",), ("M2",), ("M3",)]
    assert rows(fresh_engine, "SELECT recipient FROM outbox") == [("a@example.org",)]

    upgrade(fresh_engine, "0014")
    assert rows(fresh_engine, "SELECT channel FROM patients WHERE id = 1") == [("email",)]
    assert rows(fresh_engine, "SELECT count(*) FROM contacts") == [("0",)]


def test_0014_refuses_to_go_down_while_a_letter_waits(fresh_engine):  # noqa: F811
    upgrade(fresh_engine, "0014")
    insert_0012_clinic_patients_only(fresh_engine)
    insert_outbox_email(fresh_engine)
    with fresh_engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET channel = 'letter'"))
    with pytest.raises(RuntimeError, match="letters or SMS"):
        downgrade(fresh_engine, "0013")
    assert current_revision(fresh_engine) == "0014"
    assert rows(fresh_engine, "SELECT channel FROM outbox") == [("letter",)]


def insert_0012_clinic_patients_only(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO patients (id, mrn, name, email_opted_out, site, status, created_at)"
                " VALUES (1, 'M1', 'A', false, 'main', 'active', '2026-01-01 09:00:00')"
            )
        )
