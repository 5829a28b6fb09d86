"""Feed freshness: a quiet lab feed is named in the digest and marks its patients' overdue tests."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select

from monitor.services.mail.daily import run_daily
from monitor.services.people.courses import add_course
from monitor.services.people.patients import add_patient
from monitor.services.results.feeds import late_feeds, patients_served_by
from monitor.services.results.recording import ResultIn, add_results
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.conftest import clinic_config

NOW = datetime(2026, 3, 20, 9, tzinfo=UTC)
COURSE = [date(2025, 1, 6) + timedelta(days=d) for d in range(5)]
CONFIG = clinic_config(
    {"sources": {"CITY-LAB": {"stale_after_days": 3}, "QUIET": {"stale_after_days": 5}}}
)


def set_up(engine: Engine) -> None:
    with unit_of_work(engine, CONFIG.catalogue) as session:
        for mrn, source, received in (("P1", "CITY-LAB", NOW - timedelta(days=10)),
                                      ("P2", "OTHER", NOW - timedelta(days=10))):  # fmt: skip
            add_patient(session, mrn=mrn, name="Pat Test", email=None, born_on=None, sex="F",
                        site="main", actor="test", now=NOW)  # fmt: skip
            add_course(session, mrn=mrn, infused_on=COURSE, actor="test", now=NOW)
            tsh = ResultIn(mrn, "tsh", "1.2", "mIU/L", date(2026, 3, 9), source=source)
            rules = CONFIG.rule_settings
            add_results(session, [tsh], today=NOW.date(), now=received, rules=rules)


def test_a_quiet_feed_is_late_and_marks_the_patients_it_serves(engine: Engine) -> None:
    set_up(engine)
    with unit_of_work(engine) as session:
        late = late_feeds(session, CONFIG, NOW)
        assert [feed.source for feed in late] == ["CITY-LAB", "QUIET"]  # QUIET never sent anything
        served = patients_served_by(session, [feed.source for feed in late])
    assert len(served) == 1


def test_a_feed_within_its_limit_is_not_late(engine: Engine) -> None:
    set_up(engine)
    with unit_of_work(engine) as session:
        late = late_feeds(session, CONFIG, NOW - timedelta(days=8))
    assert [feed.source for feed in late] == ["QUIET"]


def test_the_digest_names_the_late_feed_and_marks_overdue_rows(engine: Engine) -> None:
    set_up(engine)
    run_daily(engine, on=NOW.date(), config=CONFIG, now=NOW)
    with unit_of_work(engine) as session:
        body = session.scalar(
            select(OutboxMessage.body_text).where(OutboxMessage.message == "staff-daily-digest")
        )
    assert body is not None
    assert "Results feed late: CITY-LAB has sent nothing since 2026-03-10" in body
    late_rows = [line for line in body.splitlines() if "(results feed late)" in line]
    assert late_rows and all("P1" in line for line in late_rows)


def test_overdue_json_carries_feed_late(cli, engine: Engine, tmp_path) -> None:
    set_up(engine)
    (tmp_path / "config.toml").write_text("[sources.CITY-LAB]\nstale_after_days = 3\n")
    result = cli("overdue", "--as-of", "2026-03-20", "--json")
    assert result.code == 0
    rows = json.loads(result.out)
    assert {r["mrn"] for r in rows if r["feed_late"]} == {"P1"}
    assert any(not r["feed_late"] for r in rows if r["mrn"] == "P2")
    assert "Results feed late: CITY-LAB" in result.err
