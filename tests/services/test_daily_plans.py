"""The daily cycle plans each statement for its own values on PostgreSQL, in its transaction
only: a clinic's first cycle fills `outbox` and `notices` from empty in one transaction, and
the plans PostgreSQL kept from their empty start made it grow with the square of its emails."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, event, text

from monitor.services.mail.daily import run_daily
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.store.db import plan_each_statement, unit_of_work
from tests.conftest import clinic_config

DAY = date(2026, 3, 2)
SETTING = "SET LOCAL plan_cache_mode = force_custom_plan"


def _plan_mode(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SHOW plan_cache_mode")).scalar_one())


def test_the_setting_holds_inside_the_transaction_and_ends_with_it(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        with unit_of_work(engine) as session:
            plan_each_statement(session)  # nothing to set on SQLite, and nothing refused
        return
    before = _plan_mode(engine)
    with unit_of_work(engine) as session:
        plan_each_statement(session)
        inside = session.execute(text("SHOW plan_cache_mode")).scalar_one()
    assert (before, inside) == ("auto", "force_custom_plan")
    assert _plan_mode(engine) == "auto"  # the pooled connection is back to the server's default


def test_the_daily_cycle_sets_it_first_on_postgresql_only(engine: Engine) -> None:
    config = clinic_config()
    now = datetime.combine(DAY, datetime.min.time(), UTC)
    course = [DAY - timedelta(days=40) + timedelta(days=d) for d in range(5)]
    with unit_of_work(engine, config.catalogue) as session:
        add_patient(
            session, mrn="P1", name="Pat Example", email="pat@example.org",
            born_on=date(1980, 6, 1), sex="F", site="main", actor="test", now=now,
        )  # fmt: skip
        add_course(session, mrn="P1", infused_on=course, actor="test", now=now)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        report = run_daily(engine, on=DAY, config=config, now=now)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert report.queued >= 1  # a real cycle: the patient's first reminder went in
    if engine.dialect.name == "postgresql":
        assert statements[0] == SETTING
    else:
        assert SETTING not in statements
