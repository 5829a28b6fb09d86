"""Recording results, called directly: `store_result` validates one row, `add_results` stores a
batch and then re-matches slots and runs the rules once per patient, and `record_results`
queues the urgent-flag alerts in the same transaction. A refusal refuses the whole batch."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.domain.rules import Severity
from monitor.domain.vocabulary import OutboxStatus
from monitor.errors import FieldError, InvalidInput
from monitor.services.results.intake import audit_entry, record_results
from monitor.services.results.recording import Recorded, ResultIn, add_results, store_result
from monitor.store.db import unit_of_work
from monitor.store.models import Flag, OutboxMessage, Patient, Result
from tests.conftest import clinic_config
from tests.services.clinic import (
    CONFIG,
    FEBRUARY,
    MRN,
    NOW,
    PROTOCOL,
    TODAY,
    audit_entries,
    count,
    enrol,
    result_in,
    slot,
)

ON = date(2025, 2, 12)  # in the February window
CBC = [("platelets", "250", "10^9/L"), ("neutrophils", "3.1", "10^9/L"),
       ("hemoglobin", "135", "g/L"), ("lymphocytes", "0.9", "10^9/L")]  # fmt: skip


def add(engine: Engine, batch: list[ResultIn]) -> Recorded:
    with unit_of_work(engine, PROTOCOL) as session:
        return add_results(session, batch, today=TODAY, now=NOW,
                           rules=CONFIG.rule_settings)  # fmt: skip


def test_a_result_is_stored_in_its_canonical_unit(engine: Engine) -> None:
    enrol(engine)
    [row] = add(engine, [result_in("creatinine", "0.9", "mg/dL", ON)]).results
    with unit_of_work(engine) as session:
        stored = session.get_one(Result, row.id)
        assert (stored.value, stored.unit, stored.source) == ("0.9", "mg/dL", "manual")
        assert stored.canonical_value == pytest.approx(0.9 * 88.4)


def test_a_batch_completes_the_slot_it_fills_once_committed(engine: Engine) -> None:
    enrol(engine)
    before = slot(engine, "cbc", FEBRUARY)
    assert before is not None and before.done_on is None
    add(engine, [result_in(analyte, value, unit, ON) for analyte, value, unit in CBC])
    after = slot(engine, "cbc", FEBRUARY)
    assert after is not None and after.done_on == ON


def test_the_rules_run_on_the_stored_batch(engine: Engine) -> None:
    enrol(engine)
    later = ON + timedelta(days=7)
    recorded = add(engine, [result_in("platelets", "300", "10^9/L", ON),
                            result_in("platelets", "40", "10^9/L", later)])  # fmt: skip
    assert sorted((flag.rule, flag.severity) for flag in recorded.flags) == [
        ("platelets.fall", Severity.REVIEW), ("platelets.low", Severity.EMERGENCY)
    ]  # fmt: skip
    assert {flag.result_id for flag in recorded.flags} == {recorded.results[1].id}
    assert count(engine, Flag) == 2


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        (result_in("platelets", "250", "10^9/L", TODAY + timedelta(days=1)), InvalidInput,
         "collection date 2025-03-04 is in the future"),
        (result_in("platelets", "250", "10^9/L", ON, ref_low=-1.0), FieldError,
         "reference range low end -1.0 is not a finite non-negative number"),
        (result_in("platelets", "250", "10^9/L", ON, ref_high=float("nan")), FieldError,
         "reference range high end nan is not a finite non-negative number"),
        (result_in("platelets", "250", "10^9/L", ON, ref_low=400.0, ref_high=150.0),
         InvalidInput, "reference range 400.0-150.0 has its low end above its high end"),
        (result_in("platelets", "lots", "10^9/L", ON), InvalidInput,
         "value 'lots' for platelets is not a number"),
        (result_in("sodium", "140", "mmol/L", ON), InvalidInput, "unknown analyte 'sodium'"),
    ],
)  # fmt: skip
def test_one_bad_result_refuses_the_whole_batch(
    engine: Engine, given: ResultIn, error: type[Exception], message: str
) -> None:
    enrol(engine)
    good = result_in("creatinine", "72", "umol/L", ON)
    with pytest.raises(error) as refused:
        add(engine, [good, given])
    assert str(refused.value) == message or str(refused.value).startswith(message)
    assert count(engine, Result) == 0
    done = slot(engine, "creatinine", FEBRUARY)
    assert done is not None and done.done_on is None


def test_an_unknown_patient_is_not_found_and_nothing_is_stored(engine: Engine) -> None:
    enrol(engine)
    with pytest.raises(InvalidInput, match="unknown MRN 'Z9'"):
        add(engine, [result_in("creatinine", "72", "umol/L", ON),
                     result_in("creatinine", "72", "umol/L", ON, mrn="Z9")])  # fmt: skip
    assert count(engine, Result) == 0


def test_store_result_alone_leaves_the_slots_and_rules_to_the_caller(engine: Engine) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        patient = session.scalars(select(Patient).where(Patient.mrn == MRN)).one()
        store_result(session, patient, result_in("platelets", "40", "10^9/L", ON), today=TODAY,
                     now=NOW)  # fmt: skip
    assert (count(engine, Result), count(engine, Flag)) == (1, 0)


def test_record_results_queues_an_urgent_alert_with_the_flag_and_audit_entry_is_explicit(
    engine: Engine,
) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        recorded = record_results(session, [result_in("platelets", "40", "10^9/L", ON)],
                                  today=TODAY, now=NOW, config=clinic_config())  # fmt: skip
        audit_entry(session, recorded.results[0], actor="web:nina", now=NOW)
    with unit_of_work(engine) as session:
        [alert] = session.scalars(select(OutboxMessage)).all()
        assert alert.message == "staff-urgent-flag"
        assert alert.recipient == "clinicians@clinic.example"
    [entry] = audit_entries(engine, "result.add")
    assert entry.actor == "web:nina"
    assert entry.after == {"analyte": "platelets", "value": "40", "unit": "10^9/L",
                           "collected_on": "2025-02-12"}  # fmt: skip


def test_record_results_without_a_configured_clinic_records_the_alert_as_skipped(
    engine: Engine,
) -> None:
    enrol(engine)
    with unit_of_work(engine, PROTOCOL) as session:
        recorded = record_results(session, [result_in("platelets", "40", "10^9/L", ON)],
                                  today=TODAY, now=NOW, config=CONFIG)  # fmt: skip
    assert len(recorded.flags) == 1
    with unit_of_work(engine) as session:
        [held] = session.scalars(select(OutboxMessage)).all()
        assert (held.message, held.status) == ("staff-urgent-flag", OutboxStatus.SKIPPED)
