"""Results that ask for a repeat (issue 14 item 6): the flag records when, the schedule gets a
`repeat` slot for the analyte's panel, a result in its window completes it, it is overdue when
none comes, and the daily cycle reminds about it. Dates hand-computed: COURSE is 6-10 January
2025, so the monthly slots are due on the 10th (window 3rd-17th)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select

from monitor.config import Config
from monitor.domain.reminders import TESTS_DUE, TESTS_OVERDUE
from monitor.domain.status import SlotStatus, stored_status
from monitor.domain.vocabulary import FlagStatus
from monitor.services.mail.daily import run_daily
from monitor.services.results.corrections import withdraw_result
from monitor.services.results.intake import record_results
from monitor.services.schedule.view import patient_schedule
from monitor.services.schedule.waivers import waive_slot
from monitor.services.schedule.worklist import overdue_lines
from monitor.store.db import unit_of_work
from monitor.store.models import Flag, Notice, OutboxMessage, Result, Slot
from tests.conftest import clinic_config
from tests.services.clinic import MRN, NOW, PROTOCOL, enrol, result_in

CONFIG = clinic_config()
CBC = (("neutrophils", "3.0", "10^9/L"), ("hemoglobin", "135", "g/L"))


def record(engine: Engine, on: date, *values: tuple[str, str, str], config: Config = CONFIG):
    with unit_of_work(engine, config.catalogue) as session:
        batch = [result_in(analyte, value, unit, on) for analyte, value, unit in values]
        record_results(session, batch, today=on, now=NOW, config=config)


def platelets(value: str) -> tuple[str, str, str]:
    return ("platelets", value, "10^9/L")


def repeat_slots(engine: Engine) -> list[Slot]:
    with unit_of_work(engine) as session:
        query = select(Slot).where(Slot.kind == "repeat").order_by(Slot.panel, Slot.due_on)
        return list(session.scalars(query))


def windows(engine: Engine) -> list[tuple[str, date, date, date]]:
    return [(s.panel, s.window_start, s.window_end, s.due_on) for s in repeat_slots(engine)]


def repeat_dates(engine: Engine) -> dict[str, date | None]:
    with unit_of_work(engine) as session:
        return {f.rule: f.repeat_due_on for f in session.scalars(select(Flag).order_by(Flag.id))}


def status_on(engine: Engine, on: date) -> SlotStatus:
    (found,) = repeat_slots(engine)
    return stored_status(found, on)


def test_platelets_below_100_ask_for_a_cbc_repeat_within_7_days(engine: Engine) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC)
    assert repeat_dates(engine) == {"platelets.low": date(2025, 2, 19)}
    # Window from the day after the sample to the due date.
    assert windows(engine) == [("cbc", date(2025, 2, 13), date(2025, 2, 19), date(2025, 2, 19))]
    assert status_on(engine, date(2025, 2, 12)) is SlotStatus.UPCOMING
    assert status_on(engine, date(2025, 2, 15)) is SlotStatus.DUE
    assert status_on(engine, date(2025, 2, 20)) is SlotStatus.OVERDUE
    # The regular February slot the sample completed is untouched by the repeat.
    with unit_of_work(engine, PROTOCOL) as session:
        shown = patient_schedule(session, MRN, date(2025, 2, 20), PROTOCOL)
    by_due = {(s.panel, s.due_on): s for s in shown.slots}
    assert by_due["cbc", date(2025, 2, 10)].status is SlotStatus.DONE
    assert by_due["cbc", date(2025, 2, 19)].kind == "repeat"
    assert by_due["cbc", date(2025, 2, 19)].status is SlotStatus.OVERDUE


def test_a_count_of_100_asks_for_no_repeat(engine: Engine) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("100"), *CBC)
    assert repeat_dates(engine) == {"platelets.low": None}  # review only
    assert repeat_slots(engine) == []


def test_a_cbc_inside_the_window_completes_the_repeat(engine: Engine) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC)
    record(engine, date(2025, 2, 18), platelets("160"), *CBC)
    (found,) = repeat_slots(engine)
    assert found.done_on == date(2025, 2, 18)
    assert stored_status(found, date(2025, 2, 25)) is SlotStatus.DONE


def test_a_partial_repeat_or_one_after_the_window_is_not_on_time(engine: Engine) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC)
    record(engine, date(2025, 2, 16), platelets("160"))  # the cbc lacks two analytes
    assert status_on(engine, date(2025, 2, 20)) is SlotStatus.OVERDUE
    record(engine, date(2025, 2, 21), *CBC)  # completes it, late
    (found,) = repeat_slots(engine)
    assert (found.done_on, found.completed_on) == (None, date(2025, 2, 21))
    assert stored_status(found, date(2025, 2, 22)) is SlotStatus.LATE


def test_a_same_day_sample_is_not_its_own_repeat(engine: Engine) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC)
    record(engine, date(2025, 2, 12), ("lymphocytes", "1.0", "10^9/L"))
    assert repeat_slots(engine)[0].completed_on is None


def test_a_withdrawn_result_supersedes_its_flag_and_takes_the_repeat_away(engine: Engine) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC)
    assert len(repeat_slots(engine)) == 1
    with unit_of_work(engine, PROTOCOL) as session:
        result = session.scalars(select(Result).where(Result.analyte == "platelets")).one()
        withdraw_result(session, result, NOW, "test")
    with unit_of_work(engine) as session:
        assert session.scalars(select(Flag.status)).all() == [FlagStatus.SUPERSEDED]
    assert repeat_slots(engine) == []


def test_an_acknowledged_flag_still_asks_for_its_repeat(engine: Engine) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC)
    with unit_of_work(engine, PROTOCOL) as session:
        flag = session.scalars(select(Flag)).one()
        flag.status = FlagStatus.ACKNOWLEDGED
    assert len(repeat_slots(engine)) == 1


def test_a_fall_of_half_asks_for_a_repeat_and_one_slot_serves_both_rules(engine: Engine) -> None:
    """300 on 5 February, then 140 on 12 February: a fall of 53 % (review, repeat) and a count
    below 150 (review, no repeat). Then 90 on 14 February: below 100 and a fall from 140? No,
    36 %: only the low count asks, due the 21st, its own slot."""
    enrol(engine)
    record(engine, date(2025, 2, 5), platelets("300"), *CBC)
    record(engine, date(2025, 2, 12), platelets("140"), *CBC)
    assert repeat_dates(engine) == {"platelets.low": None, "platelets.fall": date(2025, 2, 19)}
    assert windows(engine) == [("cbc", date(2025, 2, 13), date(2025, 2, 19), date(2025, 2, 19))]
    record(engine, date(2025, 2, 14), platelets("60"), *CBC)  # 57 % fall and below 100
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Flag.rule, Flag.repeat_due_on).join(Result).where(Result.canonical_value == 60)
        ).all()
    assert sorted(rows) == [
        ("platelets.fall", date(2025, 2, 21)),
        ("platelets.low", date(2025, 2, 21)),
    ]
    assert windows(engine) == [
        ("cbc", date(2025, 2, 13), date(2025, 2, 19), date(2025, 2, 19)),
        ("cbc", date(2025, 2, 15), date(2025, 2, 21), date(2025, 2, 21)),  # one slot, two asks
    ]
    # The 14 February count completes the first repeat (inside 13-19 February).
    assert repeat_slots(engine)[0].done_on == date(2025, 2, 14)


def test_an_urgent_creatinine_rise_asks_for_a_repeat(engine: Engine) -> None:
    """70 on 5 February, 100 on 5 March: 30 umol/L above the previous value, urgent."""
    enrol(engine)
    record(engine, date(2025, 2, 5), ("creatinine", "70", "umol/L"))
    record(engine, date(2025, 3, 5), ("creatinine", "100", "umol/L"))
    assert repeat_dates(engine)["creatinine.rise"] == date(2025, 3, 12)
    assert windows(engine) == [
        ("creatinine", date(2025, 3, 6), date(2025, 3, 12), date(2025, 3, 12))
    ]
    record(engine, date(2025, 3, 11), ("creatinine", "98", "umol/L"))
    assert repeat_slots(engine)[0].done_on == date(2025, 3, 11)


def test_a_repeat_due_on_a_regular_slots_day_falls_due_the_day_before(engine: Engine) -> None:
    """A rise on 3 March asks for 10 March, the day the March creatinine slot is due: the
    repeat is due on 9 March (window 4-9 March), and the regular slot stays as it was."""
    enrol(engine)
    record(engine, date(2025, 2, 5), ("creatinine", "70", "umol/L"))
    record(engine, date(2025, 3, 3), ("creatinine", "100", "umol/L"))
    assert repeat_dates(engine)["creatinine.rise"] == date(2025, 3, 10)
    assert windows(engine) == [("creatinine", date(2025, 3, 4), date(2025, 3, 9), date(2025, 3, 9))]
    with unit_of_work(engine) as session:
        regular = session.scalars(
            select(Slot).where(Slot.panel == "creatinine", Slot.due_on == date(2025, 3, 10))
        ).one()
    assert (regular.kind, regular.window_start, regular.done_on) == (
        "recurring", date(2025, 3, 3), date(2025, 3, 3),
    )  # fmt: skip


@pytest.mark.parametrize("table", ["platelets", "creatinine"])
def test_a_clinic_may_turn_a_repeat_off_with_0(engine: Engine, table: str) -> None:
    config = clinic_config({"rules": {table: {"repeat_within_days": 0}}})
    enrol(engine)
    record(engine, date(2025, 2, 5), ("creatinine", "70", "umol/L"), config=config)
    record(engine, date(2025, 2, 12), platelets("90"), ("creatinine", "100", "umol/L"),
           config=config)  # fmt: skip
    asked = repeat_dates(engine)
    off = "platelets.low" if table == "platelets" else "creatinine.rise"
    on = "creatinine.rise" if table == "platelets" else "platelets.low"
    assert asked[off] is None and asked[on] == date(2025, 2, 19)
    assert [s.panel for s in repeat_slots(engine)] == [
        "creatinine" if off == "platelets.low" else "cbc"
    ]


def test_a_clinic_may_ask_for_a_sooner_repeat(engine: Engine) -> None:
    config = clinic_config({"rules": {"platelets": {"repeat_within_days": 2}}})
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC, config=config)
    assert windows(engine) == [("cbc", date(2025, 2, 13), date(2025, 2, 14), date(2025, 2, 14))]


def test_the_daily_cycle_reminds_about_a_repeat_due_and_then_overdue(engine: Engine) -> None:
    enrol(engine, email="alex@example.org")
    # A full set on 12 February: every regular February slot done; platelets 90 ask again.
    record(
        engine, date(2025, 2, 12), platelets("90"), *CBC, ("creatinine", "70", "umol/L"),
        ("urine_rbc", "1", "/HPF"), ("urine_protein", "negative", "ordinal"),
        ("alt", "20", "U/L"), ("bilirubin", "10", "umol/L"),
    )  # fmt: skip
    # 13 February: due within the week; 21 February: overdue since its window closed on the 19th.
    for day in (13, 21):
        now = datetime(2025, 2, day, 7, tzinfo=UTC)
        run_daily(engine, on=date(2025, 2, day), config=CONFIG, now=now)
    with unit_of_work(engine) as session:
        sent = session.execute(
            select(Notice.message, Notice.panel, Notice.run_on, OutboxMessage.body_text)
            .join(OutboxMessage, OutboxMessage.id == Notice.outbox_id)
            .where(Notice.due_on == date(2025, 2, 19))
            .order_by(Notice.run_on)
        ).all()
    assert [(m, p, d) for m, p, d, _ in sent] == [
        (TESTS_DUE, "cbc", date(2025, 2, 13)),
        (TESTS_OVERDUE, "cbc", date(2025, 2, 21)),
    ]
    for *_, body in sent:
        assert "19 February 2025" in body
        for never in ("platelet", "90", "repeat", "alemtuzumab", "flag"):
            assert never not in body.lower()


def test_an_overdue_repeat_is_on_the_overdue_list_and_a_nurse_may_waive_it(
    engine: Engine,
) -> None:
    enrol(engine)
    record(engine, date(2025, 2, 12), platelets("90"), *CBC)
    on = date(2025, 2, 21)
    with unit_of_work(engine, PROTOCOL) as session:
        lines = overdue_lines(session, on, PROTOCOL)
    (line,) = lines
    assert ("cbc", date(2025, 2, 19), 2) in {
        (i.panel, i.due_on, i.days_overdue) for i in line.items
    }
    with unit_of_work(engine, PROTOCOL) as session:
        waive_slot(
            session, mrn=MRN, panel="cbc", due_on=date(2025, 2, 19), by="Nurse Jo",
            reason="haematology repeated it", now=NOW,
        )  # fmt: skip
    record(engine, date(2025, 2, 20), ("lymphocytes", "1.0", "10^9/L"))  # a rebuild
    (found,) = repeat_slots(engine)
    assert found.is_waived and stored_status(found, on) is SlotStatus.WAIVED
