"""The two answers the Today page, the overdue lists and the digest share: open urgent and
emergency alerts, and patients we could not reach (one function each, issue 12 item 1)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest
from sqlalchemy import Engine, not_, select

from monitor.domain.reminders import DUE_DATE_PASSED, SUPERSEDED, SUPERSEDED_PREFIX, is_timing_skip
from monitor.domain.rules import Severity
from monitor.domain.vocabulary import OutboxStatus
from monitor.services.mail.digest import _alerts, _unreachable
from monitor.services.mail.unreachable import UNREACHABLE_DAYS, timing_skip, unreachable
from monitor.services.results.alerts import alert_levels, open_alerts
from monitor.store.db import unit_of_work
from monitor.store.models import OutboxMessage
from tests.services.reading import TODAY, add_outbox, build


def test_an_alert_is_one_row_per_result_with_every_open_flag_most_severe_first(
    engine: Engine,
) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        alerts = open_alerts(session)
    assert [(a.mrn, a.site, a.group.severity) for a in alerts] == [
        ("B2", "north", Severity.EMERGENCY),
        ("A1", "main", Severity.URGENT),
    ]
    ann = alerts[1]
    assert ann.name == "Ann Example" and ann.group.result.value == "80"
    assert [f.severity for f in ann.group.flags] == [Severity.URGENT, Severity.REVIEW]
    assert [f.severity for f in alerts[0].group.flags] == [Severity.EMERGENCY, Severity.REVIEW]
    with pytest.raises(FrozenInstanceError):
        ann.mrn = "X"  # type: ignore[misc]


def test_alerts_of_one_site_and_each_patients_worst_level(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        north = open_alerts(session, "north")
        everyone = open_alerts(session)
    assert [a.mrn for a in north] == ["B2"]
    levels = alert_levels(everyone)
    assert sorted(levels.values()) == ["emergency", "urgent"]
    assert levels[north[0].patient_id] == "emergency"
    assert alert_levels([]) == {}


def test_the_digest_lists_the_same_alerts_flag_by_flag(engine: Engine) -> None:
    """The digest keeps its per-flag lines (urgent and emergency only, newest first)."""
    build(engine)
    with unit_of_work(engine) as session:
        rows = {site: _alerts(session, site) for site in ("main", "north")}
        shown = {a.mrn for a in open_alerts(session)}
    assert [(r.mrn, r.severity) for r in rows["main"]] == [("A1", "urgent")]
    assert [(r.mrn, r.severity) for r in rows["north"]] == [("B2", "emergency")]
    assert {r.mrn for lines in rows.values() for r in lines} == shown


def test_unreachable_takes_the_newest_reason_of_each_patient(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        add_outbox(session, "B2", OutboxStatus.SKIPPED, reason="no email address")
        add_outbox(session, "B2", OutboxStatus.FAILED, error="550 mailbox unavailable")
        add_outbox(session, "C3", OutboxStatus.FAILED, error="550 mailbox unavailable")
        add_outbox(session, "C3", OutboxStatus.SKIPPED, reason="opted out of email")
        add_outbox(session, "A1", OutboxStatus.FAILED, error=None)
        found = unreachable(session, TODAY, None)
        digest = _unreachable(session, TODAY, "north")
    assert [(u.mrn, u.why) for u in found] == [
        ("A1", "delivery failed: unknown error"),
        ("B2", "delivery failed: 550 mailbox unavailable"),
        ("C3", "opted out of email"),
    ]
    assert found[1].name == "Bo Example" and found[1].site == "north" and found[1].on == TODAY
    assert [(d.mrn, d.reason) for d in digest] == [(u.mrn, u.why) for u in found[1:]]


def test_unreachable_leaves_out_the_rules_own_skips_old_rows_and_sent_mail(engine: Engine) -> None:
    build(engine)
    oldest = TODAY - timedelta(days=UNREACHABLE_DAYS - 1)
    with unit_of_work(engine) as session:
        add_outbox(
            session, "A1", OutboxStatus.SKIPPED, reason="superseded by the 7-day overdue reminder"
        )
        add_outbox(session, "A1", OutboxStatus.PENDING)
        add_outbox(session, "B2", OutboxStatus.SKIPPED, reason="no email address", run_on=oldest)
        add_outbox(session, "C3", OutboxStatus.SKIPPED, reason="no email address",
                   run_on=oldest - timedelta(days=1))  # fmt: skip
        add_outbox(session, "C3", OutboxStatus.FAILED, error="x", message="staff-daily-digest")
        found = unreachable(session, TODAY, None)
        main = unreachable(session, TODAY, "main")
    assert [(u.mrn, u.why) for u in found] == [("B2", "no email address")]
    assert main == []


REASONS = [
    *(SUPERSEDED.format(step=step) for step in (1, 7, 14, 30)),
    DUE_DATE_PASSED,
    SUPERSEDED_PREFIX,
    "no email address",
    "opted out of email",
    "no postal address",
    None,
    "",
    SUPERSEDED_PREFIX.upper(),
    SUPERSEDED_PREFIX.replace(" ", "_"),  # LIKE's one-character wildcard, which must not match
    "x" + SUPERSEDED_PREFIX,
    DUE_DATE_PASSED + ".",
    DUE_DATE_PASSED[:-1],
]


def test_the_sql_timing_skip_answers_as_the_domains_for_every_reason(engine: Engine) -> None:
    """`unreachable` leaves the rules' own skips out in SQL; the rule's home is
    `domain.reminders.is_timing_skip`, and the two agree on every reason, failed rows never."""
    build(engine)
    with unit_of_work(engine) as session:
        ids = [
            add_outbox(session, mrn, status, reason=reason, error="x")
            for reason in REASONS
            for mrn, status in (("A1", OutboxStatus.SKIPPED), ("B2", OutboxStatus.FAILED))
        ]
        rows = session.execute(
            select(
                OutboxMessage.status, OutboxMessage.reason, timing_skip(), not_(timing_skip())
            ).where(OutboxMessage.id.in_(ids))
        ).all()
    assert len(rows) == 2 * len(REASONS)
    for status, reason, in_sql, kept in rows:  # `kept`: what unreachable's WHERE keeps (no NULL)
        expected = status is OutboxStatus.SKIPPED and is_timing_skip(reason)
        assert bool(in_sql) is expected and kept is not None and bool(kept) is not expected, (
            status,
            reason,
        )
    assert sum(bool(row[2]) for row in rows) == 6
