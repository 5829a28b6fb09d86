"""`import_items`, called directly with what an adapter hands over (`Incoming`, `Problem`,
`Skipped`): each item in its own savepoint, problems to the quarantine with their raw text,
repeats not stored twice, corrections and withdrawals judged at once, and the slots and rules
of new results left to `finish_patients`, once per patient."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import Engine, select

from monitor.domain.codes import Code
from monitor.domain.vocabulary import FlagStatus, OutboxStatus, ResultStatus
from monitor.services.results.imports import (
    ImportContext,
    NewResults,
    finish_patients,
    import_items,
    take,
)
from monitor.services.results.incoming import Incoming, Problem, Skipped, StatedPatient
from monitor.store.db import unit_of_work
from monitor.store.models import Flag, OutboxMessage, QuarantineItem, Result
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
    slot,
)

ON = date(2025, 2, 12)
CONTEXT = ImportContext(config=CONFIG, today=TODAY, now=NOW)
CREATININE = Code("LN", "2160-0", "Creatinine")


def incoming(value: str, accession: str = "A1", **fields: object) -> Incoming:
    item = Incoming(
        mrns=(MRN,), codes=(CREATININE,), value=value, unit="umol/L", collected_on=ON,
        collected_at=None, status=ResultStatus.FINAL, source="citylab", format="csv",
        raw=f"{MRN},2160-0,{value},umol/L,{ON},{accession}", accession=accession,
    )  # fmt: skip
    return replace(item, **fields)  # type: ignore[arg-type]


def quarantined(engine: Engine) -> list[tuple[str, str]]:
    with unit_of_work(engine) as session:
        rows = session.scalars(select(QuarantineItem).order_by(QuarantineItem.id))
        return [(row.reason, row.raw) for row in rows]


def run(engine: Engine, items: list, context: ImportContext = CONTEXT, **options: bool):  # type: ignore[no-untyped-def]
    with unit_of_work(engine, PROTOCOL) as session:
        return import_items(session, items, context, **options)


def test_a_mixed_file_stores_the_good_items_and_quarantines_the_rest_with_their_raw_text(
    engine: Engine,
) -> None:
    enrol(engine)
    unreadable = Problem("OBX-5 is empty", "citylab", "hl7", "OBX|1|NM|2160-0||")
    report = run(engine, [
        incoming("72"),
        unreadable,
        Skipped("cannot be done"),
        incoming("80", "A2", codes=(Code("CITY", "KREA"),)),
        incoming("75", "A3", mrns=("Z9",)),
        incoming("x" * 65, "A4"),
    ])  # fmt: skip
    assert (report.stored, report.duplicates, report.skipped, report.quarantined) == (1, 0, 1, 4)
    assert report.problems[0] == "OBX-5 is empty"
    assert report.problems[1].startswith("code not mapped: KREA [CITY] from source 'citylab'")
    assert report.problems[1].endswith('add to config.toml: [codes.local.citylab] KREA = '
                                       '"<analyte>", then `monitor quarantine retry`')  # fmt: skip
    assert report.problems[2] == "unknown patient: no patient with MRN Z9"
    assert report.problems[3].startswith("value is longer than 64 characters")
    assert [reason for reason, _ in quarantined(engine)] == report.problems
    assert quarantined(engine)[0][1] == "OBX|1|NM|2160-0||"
    assert len(report.quarantine_ids) == 4
    with unit_of_work(engine) as session:
        assert session.scalars(select(Result.value)).all() == ["72"]


def test_a_negative_reference_bound_is_quarantined_in_the_products_words(engine: Engine) -> None:
    enrol(engine)
    report = run(engine, [incoming("72", ref_low=-1.0)])
    assert report.problems == ["reference range low end -1.0 is not a finite non-negative number"]
    assert count(engine, Result) == 0


def test_the_same_result_sent_again_is_a_duplicate(engine: Engine) -> None:
    enrol(engine)
    run(engine, [incoming("72")])
    report = run(engine, [incoming("72")])
    assert (report.stored, report.duplicates) == (0, 1)
    assert count(engine, Result) == 1


def test_a_different_final_value_for_the_same_accession_is_quarantined(engine: Engine) -> None:
    enrol(engine)
    run(engine, [incoming("72")])
    report = run(engine, [incoming("90")])
    assert report.quarantined == 1
    assert report.problems[0].endswith(
        "with the same accession and collection time, but is not marked as a correction"
    )
    with unit_of_work(engine) as session:
        assert session.scalars(select(Result.value)).all() == ["72"]


def test_a_correction_replaces_the_stored_result_and_is_audited_by_source(engine: Engine) -> None:
    enrol(engine)
    run(engine, [incoming("72")])
    report = run(engine, [incoming("90", status=ResultStatus.CORRECTED)])
    assert report.stored == 1
    with unit_of_work(engine) as session:
        rows = session.scalars(select(Result).order_by(Result.id)).all()
        assert [(row.value, row.status) for row in rows] == [
            ("72", ResultStatus.REPLACED), ("90", ResultStatus.CORRECTED)
        ]  # fmt: skip
        assert rows[0].replaced_by_id == rows[1].id
    [entry] = audit_entries(engine, "result.correct")
    assert entry.actor == "import:citylab"


def test_a_withdrawal_takes_the_result_out_and_one_for_nothing_is_skipped(engine: Engine) -> None:
    enrol(engine)
    run(engine, [incoming("72")])
    withdrawn = run(engine, [incoming("72", status=ResultStatus.ENTERED_IN_ERROR)])
    nothing = run(engine, [incoming("72", "B9", status=ResultStatus.ENTERED_IN_ERROR)])
    assert (withdrawn.stored, nothing.skipped, nothing.stored) == (1, 1, 0)
    with unit_of_work(engine) as session:
        assert session.scalars(select(Result.status)).all() == [ResultStatus.ENTERED_IN_ERROR]
    done = slot(engine, "creatinine", FEBRUARY)
    assert done is not None and done.done_on is None
    assert [entry.actor for entry in audit_entries(engine, "result.entered_in_error")] == [
        "import:citylab"
    ]


def test_a_message_about_someone_else_is_quarantined_whole(engine: Engine) -> None:
    enrol(engine)
    stated = StatedPatient((MRN,), "1975-06-30", ("Morgan",), "citylab", "hl7", "MSH|whole")
    report = run(engine, [incoming("72", stated=stated), incoming("80", "A2", stated=stated)])
    assert (report.stored, report.quarantined, report.rejected) == (0, 1, True)
    assert quarantined(engine)[0][1] == "MSH|whole"
    assert "date of birth" in quarantined(engine)[0][0]
    assert count(engine, Result) == 0


def test_without_quarantine_the_problems_are_held_in_the_report(engine: Engine) -> None:
    enrol(engine)
    report = run(engine, [incoming("72", mrns=("Z9",))], quarantine=False)
    assert report.quarantined == 1 and report.quarantine_ids == []
    assert [problem.reason for problem in report.held] == report.problems
    assert count(engine, QuarantineItem) == 0


def test_new_results_wait_for_finish_patients_then_match_flag_and_alert(engine: Engine) -> None:
    enrol(engine, email=None)
    context = ImportContext(config=clinic_config(), today=TODAY, now=NOW)
    with unit_of_work(engine, PROTOCOL) as session:
        new = NewResults()
        take(session, incoming("72", "A1"), context, new)
        take(session, incoming("400", "A2", collected_on=date(2025, 2, 20)), context, new)
        assert session.scalars(select(Flag)).all() == []  # only stored so far
        assert [len(rows) for rows in new.results.values()] == [2]
        finish_patients(session, new, context)
    done = slot(engine, "creatinine", FEBRUARY)
    assert done is not None and done.done_on == ON
    with unit_of_work(engine) as session:
        flags = session.scalars(select(Flag)).all()
        assert flags and all(flag.status is FlagStatus.OPEN for flag in flags)
        alerts = session.scalars(select(OutboxMessage.status)).all()
    assert OutboxStatus.PENDING in alerts


@pytest.mark.parametrize("fallback", [None, MRN])
def test_an_item_without_an_mrn_takes_the_fallback_patient(
    engine: Engine, fallback: str | None
) -> None:
    enrol(engine)
    context = ImportContext(config=CONFIG, today=TODAY, now=NOW, fallback_mrn=fallback)
    report = run(engine, [incoming("72", mrns=())], context)
    if fallback is None:
        assert report.problems == ["no patient identifier (MRN) in the message"]
    else:
        assert report.stored == 1
