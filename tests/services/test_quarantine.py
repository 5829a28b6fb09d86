"""The quarantine, called directly: a retry re-reads the kept raw text (the test hands the
parser) and either closes the item as retried or keeps it open with the new reason; a drop
needs a reason; both are audited, and an item is closed once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from monitor.domain.codes import Code
from monitor.domain.vocabulary import QuarantineStatus, ResultStatus
from monitor.errors import FieldError, InvalidInput, NotFound
from monitor.services.people.patients import edit_identity
from monitor.services.results.imports import ImportContext, import_items
from monitor.services.results.incoming import Incoming, Parsed, StatedPatient
from monitor.services.results.quarantine import drop_item, retry_items
from monitor.store.db import unit_of_work
from monitor.store.models import QuarantineItem, Result
from tests.services.clinic import (
    CONFIG,
    MRN,
    NOW,
    PROTOCOL,
    TODAY,
    audit_entries,
    count,
    enrol,
)

CONTEXT = ImportContext(config=CONFIG, today=TODAY, now=NOW)
LATER = replace(CONTEXT, now=NOW + timedelta(hours=2))
RAW = "MRN=M1 OBX|2160-0|72|umol/L"
ITEM = Incoming(
    mrns=(MRN,), codes=(Code("LN", "2160-0"),), value="72", unit="umol/L",
    collected_on=date(2025, 2, 12), collected_at=None, status=ResultStatus.FINAL,
    source="citylab", format="hl7", raw=RAW, accession="A1",
)  # fmt: skip


def reparse(item: QuarantineItem) -> list[Parsed]:
    """The parser a retry is handed: the kept raw text reads as ITEM again."""
    assert item.raw == RAW
    return [ITEM]


def quarantine(engine: Engine, items: list[Parsed]) -> int:
    with unit_of_work(engine, PROTOCOL) as session:
        [item_id] = import_items(session, items, CONTEXT).quarantine_ids
        return item_id


def item(engine: Engine, item_id: int) -> QuarantineItem:
    with unit_of_work(engine) as session:
        return session.get_one(QuarantineItem, item_id)


def retry(engine: Engine, item_id: int | None) -> list[tuple[QuarantineStatus, int]]:
    with unit_of_work(engine, PROTOCOL) as session:
        outcomes = retry_items(session, item_id, reparse, LATER, "cli:test")
        return [(row.status, report.stored) for row, report in outcomes]


def test_a_retry_after_the_patient_is_added_stores_the_result_and_closes_the_item(
    engine: Engine,
) -> None:
    item_id = quarantine(engine, [ITEM])
    assert item(engine, item_id).reason == "unknown patient: no patient with MRN M1"
    enrol(engine)
    assert retry(engine, item_id) == [(QuarantineStatus.RETRIED, 1)]
    closed = item(engine, item_id)
    assert (closed.resolved_by, closed.resolved_at) == ("cli:test", LATER.now)
    assert closed.resolution == "stored 1, already there 0, not results 0"
    assert count(engine, Result) == 1
    [entry] = audit_entries(engine, "quarantine.retry")
    assert (entry.entity_id, entry.after) == (
        item_id, {"status": "retried", "resolution": "stored 1, already there 0, not results 0"}
    )  # fmt: skip


def test_an_item_that_fails_again_stays_open_with_the_new_reason(engine: Engine) -> None:
    enrol(engine, "OTHER")
    item_id = quarantine(engine, [replace(ITEM, mrns=("Z9",))])

    def still_unknown(row: QuarantineItem) -> list[Parsed]:
        return [replace(ITEM, mrns=("Z8",))]

    with unit_of_work(engine, PROTOCOL) as session:
        [(row, report)] = retry_items(session, item_id, still_unknown, LATER, "cli:test")
        assert (row.status, report.stored) == (QuarantineStatus.OPEN, 0)
    kept = item(engine, item_id)
    assert (kept.status, kept.reason) == (
        QuarantineStatus.OPEN, "unknown patient: no patient with MRN Z8"
    )  # fmt: skip
    assert count(engine, QuarantineItem) == 1  # nothing new quarantined
    assert audit_entries(engine, "quarantine.retry") == []


def test_a_whole_message_whose_record_was_corrected_is_taken_in(engine: Engine) -> None:
    enrol(engine)
    stated = StatedPatient((MRN,), "1975-06-30", ("Morgan",), "citylab", "hl7", RAW)
    item_id = quarantine(engine, [replace(ITEM, stated=stated)])
    assert "date of birth" in item(engine, item_id).reason

    def as_sent(row: QuarantineItem) -> list[Parsed]:
        return [replace(ITEM, stated=stated)]

    def retry_as_sent() -> tuple[QuarantineStatus, int]:
        with unit_of_work(engine, PROTOCOL) as session:
            [(row, report)] = retry_items(session, item_id, as_sent, LATER, "cli:test")
            return row.status, report.stored

    assert retry_as_sent() == (QuarantineStatus.OPEN, 0)  # the record is unchanged
    with unit_of_work(engine, PROTOCOL) as session:
        edit_identity(session, mrn=MRN, name=None, born_on=date(1975, 6, 30), actor="cli:test",
                      now=NOW)  # fmt: skip
    assert retry_as_sent() == (QuarantineStatus.RETRIED, 1)
    assert count(engine, Result) == 1


def test_retrying_every_open_item_leaves_closed_ones_alone(engine: Engine) -> None:
    first = quarantine(engine, [ITEM])
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        drop_item(session, first, reason="sent twice", actor="cli:test", now=NOW)
    second = quarantine(engine, [replace(ITEM, mrns=("Z9",))])
    with unit_of_work(engine, PROTOCOL) as session:
        outcomes = retry_items(session, None, lambda row: [ITEM], LATER, "cli:test")
        assert [row.id for row, _ in outcomes] == [second]
    assert item(engine, first).status is QuarantineStatus.DROPPED


def test_a_drop_keeps_the_reason_and_is_audited(engine: Engine) -> None:
    item_id = quarantine(engine, [ITEM])
    with unit_of_work(engine) as session:
        drop_item(session, item_id, reason="test message from the lab", actor="web:nina", now=NOW)
    dropped = item(engine, item_id)
    assert (dropped.status, dropped.resolution, dropped.resolved_by) == (
        QuarantineStatus.DROPPED, "test message from the lab", "web:nina"
    )  # fmt: skip
    [entry] = audit_entries(engine, "quarantine.drop")
    assert entry.before == {"status": "open", "reason": "unknown patient: no patient with MRN M1"}
    assert entry.after == {"status": "dropped", "resolution": "test message from the lab"}


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (" ", "reason must say why the item is dropped"),
        ("x" * 2001, "reason must have at most 2000 characters"),
    ],
)
def test_a_drop_without_a_usable_reason_names_the_field_and_changes_nothing(
    engine: Engine, reason: str, message: str
) -> None:
    item_id = quarantine(engine, [ITEM])
    with pytest.raises(FieldError, match=message):
        with unit_of_work(engine) as session:
            drop_item(session, item_id, reason=reason, actor="cli:test", now=NOW)
    assert item(engine, item_id).status is QuarantineStatus.OPEN
    assert audit_entries(engine, "quarantine.drop") == []


def test_an_item_is_closed_once_and_an_unknown_one_is_not_found(engine: Engine) -> None:
    item_id = quarantine(engine, [ITEM])
    with unit_of_work(engine) as session:
        drop_item(session, item_id, reason="duplicate", actor="cli:test", now=NOW)
    with pytest.raises(InvalidInput, match=f"quarantine item {item_id} is already dropped"):
        retry(engine, item_id)
    with pytest.raises(NotFound, match="unknown quarantine id 999"):
        retry(engine, 999)
    assert count(engine, Result) == 0
