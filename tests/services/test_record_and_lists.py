"""The patient record and the lists the screens read (issue 12 item 1): plain frozen data, this
patient's rows only, the filters and caps the pages and commands rely on."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from monitor.domain.rules import Severity
from monitor.domain.vocabulary import FlagStatus, OutboxStatus, QuarantineStatus
from monitor.errors import NotFound
from monitor.services.audit import AuditFilter, audit_actions, audit_list
from monitor.services.listing import LIMIT
from monitor.services.mail.history import outbox_kinds, outbox_list, patient_emails
from monitor.services.people.record import patient_names, patient_record, patient_ref, sites
from monitor.services.results.flagged import FlagFilter, flag_list, patient_flags
from monitor.services.results.history import patient_results
from monitor.services.results.quarantined import quarantine_list
from monitor.store.db import unit_of_work
from monitor.store.models import QuarantineItem
from tests.services.reading import CONFIG, COURSE, NOW, TODAY, add_outbox, build, patient_id

PROTOCOL = CONFIG.catalogue


def test_the_record_holds_this_patients_fields_courses_flags_results_and_emails(
    engine: Engine,
) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        add_outbox(session, "B2", OutboxStatus.SKIPPED, reason="no email address")
        add_outbox(session, "A1", OutboxStatus.SKIPPED, reason="opted out of email")
        record = patient_record(session, " B2 ", PROTOCOL, TODAY)
    assert (record.mrn, record.name, record.site, record.sex) == ("B2", "Bo Example", "north", "F")
    assert record.derived_status == "active" and record.warnings == ()
    assert [course.dates for course in record.courses] == [tuple(COURSE)]
    assert record.monitoring_end is not None and record.monitoring_end > TODAY
    assert [g.severity for g in record.open_flags] == [Severity.EMERGENCY]
    assert all(f.status is FlagStatus.OPEN for g in record.open_flags for f in g.flags)
    assert [(g.result.analyte, g.lead.acknowledged_by) for g in record.closed_flags] == [
        ("neutrophils", "nina")
    ]
    assert {f.patient_id for g in record.open_flags + record.closed_flags for f in g.flags} == {
        record.id
    }
    assert [r.value for r in record.results] == ["40", "1.2", "250"], "newest collection first"
    assert [(e.message, e.reason) for e in record.emails] == [
        ("patient-tests-due", "no email address"),
        ("staff-urgent-flag", None),  # the alert about this patient's emergency flag
    ]
    with pytest.raises(FrozenInstanceError):
        record.name = "X"  # type: ignore[misc]


def test_the_record_says_completed_after_the_monitoring_end(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        end = patient_record(session, "C3", PROTOCOL, TODAY).monitoring_end
        assert end is not None
        after = patient_record(session, "C3", PROTOCOL, end + timedelta(days=1))
    assert (after.derived_status, after.status.value) == ("completed", "active")


def test_an_unknown_mrn_is_not_found(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        with pytest.raises(NotFound, match="unknown MRN"):
            patient_record(session, "NOPE", PROTOCOL, TODAY)
        with pytest.raises(NotFound):
            patient_ref(session, "NOPE")


def test_lookups_by_mrn_names_and_sites(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        ref = patient_ref(session, "A1")
        names = patient_names(session, [ref.id, patient_id(session, "C3")])
        assert (ref.mrn, ref.name, ref.id) == ("A1", "Ann Example", patient_id(session, "A1"))
        assert sites(session) == ["main", "north"]
    assert sorted(names.values()) == ["Ann Example", "Cy Example"]


def test_flag_lists_filter_flags_by_status_and_rows_by_their_top_severity(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        every = flag_list(session, FlagFilter(), limit=None)
        opened = flag_list(session, FlagFilter(status="open"), limit=None)
        reviews = flag_list(session, FlagFilter(severity="review"), limit=None)
        north = flag_list(session, FlagFilter(site="north"), limit=None)
        capped = flag_list(session, FlagFilter(), limit=1)
        own = patient_flags(session, patient_id(session, "B2"))
    assert [(r.mrn, r.group.severity) for r in every] == [
        ("B2", Severity.EMERGENCY),
        ("A1", Severity.URGENT),
        ("B2", Severity.REVIEW),
    ]
    assert [r.group.result.analyte for r in opened] == ["platelets", "platelets"]
    assert [r.group.result.analyte for r in reviews] == ["neutrophils"], "by the row's top flag"
    assert {r.mrn for r in north} == {"B2"} and len(capped) == 1
    assert [g.result.analyte for g in own[0]] == ["platelets"]
    assert [g.result.analyte for g in own[1]] == ["neutrophils"]


def test_results_newest_collection_first(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        rows = patient_results(session, patient_id(session, "A1"))
    assert [(r.analyte, r.value, r.unit) for r in rows] == [
        ("platelets", "80", "10^9/L"),
        ("platelets", "250", "10^9/L"),
    ]
    assert rows[0].canonical_value == 80.0 and rows[0].status.value == "final"


def test_the_audit_list_filters_and_orders_both_ways(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        ann = patient_id(session, "A1")
        newest = audit_list(session, AuditFilter(), newest_first=True, limit=LIMIT)
        oldest = audit_list(session, AuditFilter(), newest_first=False, limit=None)
        hers = audit_list(session, AuditFilter(patient_id=ann), newest_first=False, limit=None)
        acks = audit_list(session, AuditFilter(actor="nin"), newest_first=True, limit=None)
        later = audit_list(
            session, AuditFilter(since=NOW + timedelta(seconds=1)), newest_first=True, limit=None
        )
        actions = audit_actions(session)
    assert [row.id for row in newest] == [row.id for row in reversed(oldest)]
    assert hers and {row.patient_id for row in hers} == {ann}
    assert [row.action for row in acks] == ["flag.acknowledge"]
    assert later == [] and "flag.acknowledge" in actions and actions == sorted(actions)


def test_outbox_and_quarantine_lists_newest_first_with_their_filters(engine: Engine) -> None:
    build(engine)
    with unit_of_work(engine) as session:
        first = add_outbox(session, "A1", OutboxStatus.SKIPPED, reason="no email address")
        second = add_outbox(session, "C3", OutboxStatus.FAILED, error="550", message="other")
        for status, fmt in ((QuarantineStatus.OPEN, "hl7"), (QuarantineStatus.DROPPED, "csv")):
            session.add(QuarantineItem(source="lab", format=fmt, raw="MSH", reason="r",
                                       status=status, received_at=NOW))  # fmt: skip
        session.flush()
        every = outbox_list(session, None, None)
        failed = outbox_list(session, "failed", None)
        kinds = outbox_kinds(session)
        hers = patient_emails(session, patient_id(session, "A1"))
        held = quarantine_list(session, None, None)
        still_open = quarantine_list(session, "open", None)
        csv = quarantine_list(session, None, "csv")
    assert [e.id for e in every][:2] == [second, first]
    assert [e.id for e in failed] == [second] and failed[0].last_error == "550"
    assert "other" in kinds and kinds == sorted(kinds)
    assert first in {e.id for e in hers} and second not in {e.id for e in hers}
    assert [q.format for q in held] == ["csv", "hl7"]
    assert [q.format for q in still_open] == ["hl7"] and [q.format for q in csv] == ["csv"]
