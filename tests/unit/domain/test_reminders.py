"""decide_reminders: SPEC §5's due window, overdue steps, catch-up without a storm."""

from datetime import date

import pytest

from monitor.domain.reminders import (
    DUE_DATE_PASSED,
    TESTS_DUE,
    TESTS_OVERDUE,
    Decision,
    SlotState,
    decide_reminders,
    first_name,
    is_timing_skip,
)
from monitor.domain.status import SlotStatus

DUE_ON = date(2026, 3, 10)
WINDOW_END = date(2026, 3, 17)
# the due reminder went out before the slot was overdue
DUE_SENT = (TESTS_DUE, "alemtuzumab", "cbc", DUE_ON, 0)


def decide(status: SlotStatus, on: date, already=frozenset()) -> list[Decision]:
    slot = SlotState("cbc", DUE_ON, WINDOW_END, status)
    return decide_reminders(
        [slot], on=on, days_before_due=7, overdue_days=[1, 7], already=set(already)
    )


@pytest.mark.parametrize(
    ("on", "status", "expected"),
    [
        (date(2026, 3, 2), SlotStatus.UPCOMING, False),  # 8 days before
        (date(2026, 3, 3), SlotStatus.UPCOMING, True),  # 7 days before
        (date(2026, 3, 5), SlotStatus.DUE, True),
        (date(2026, 3, 10), SlotStatus.DUE, True),  # the due date itself
        (date(2026, 3, 5), SlotStatus.DONE, False),
        (date(2026, 3, 5), SlotStatus.WAIVED, False),
        (date(2026, 3, 5), SlotStatus.CANCELLED, False),
    ],
)
def test_due_reminder_window(on: date, status: SlotStatus, expected: bool) -> None:
    decisions = decide(status, on)
    assert (decisions == [Decision(TESTS_DUE, "cbc", DUE_ON, 0, send=True)]) is expected
    assert expected or decisions == []


@pytest.mark.parametrize(
    ("on", "status"),
    [(date(2026, 3, 11), SlotStatus.DUE), (date(2026, 3, 18), SlotStatus.OVERDUE)],
)
def test_a_due_reminder_no_run_could_send_in_time_is_recorded_as_skipped(
    on: date, status: SlotStatus
) -> None:
    """After downtime (or a slot added late), the outbox still shows the due reminder's fate."""
    decisions = [d for d in decide(status, on) if d.message == TESTS_DUE]
    assert decisions == [Decision(TESTS_DUE, "cbc", DUE_ON, 0, False, DUE_DATE_PASSED)]
    assert is_timing_skip(decisions[0].reason)
    assert [d for d in decide(status, on, {DUE_SENT}) if d.message == TESTS_DUE] == []


def test_a_due_reminder_already_decided_is_not_repeated() -> None:
    assert decide(SlotStatus.DUE, date(2026, 3, 6), {DUE_SENT}) == []


@pytest.mark.parametrize(
    ("on", "sent_steps", "skipped_steps"),
    [
        (date(2026, 3, 17), [], []),  # window_end itself: not overdue yet
        (date(2026, 3, 18), [1], []),  # window_end + 1
        (date(2026, 3, 23), [1], []),
        (date(2026, 3, 24), [7], [1]),  # both reached at once: only the highest is sent
    ],
)
def test_overdue_steps(on: date, sent_steps: list[int], skipped_steps: list[int]) -> None:
    decisions = decide(SlotStatus.OVERDUE, on, {DUE_SENT})
    assert [d.step for d in decisions if d.send] == sent_steps
    assert [d.step for d in decisions if not d.send] == skipped_steps
    assert all(d.message == TESTS_OVERDUE for d in decisions)
    superseded = [d.reason for d in decisions if not d.send]
    assert superseded == ["superseded by the 7-day overdue reminder"] * len(skipped_steps)
    assert all(is_timing_skip(reason) for reason in superseded)


def test_only_the_rules_own_skips_are_timing_skips() -> None:
    assert not any(is_timing_skip(r) for r in (None, "no email address", "patient withdrawn"))


def test_the_next_step_follows_an_earlier_one() -> None:
    already = {DUE_SENT, (TESTS_OVERDUE, "alemtuzumab", "cbc", DUE_ON, 1)}
    decisions = decide(SlotStatus.OVERDUE, date(2026, 3, 30), already)
    assert decisions == [Decision(TESTS_OVERDUE, "cbc", DUE_ON, 7, send=True)]


def test_nothing_more_once_the_highest_step_is_decided() -> None:
    already = {
        DUE_SENT,
        (TESTS_OVERDUE, "alemtuzumab", "cbc", DUE_ON, 7),
        (TESTS_OVERDUE, "alemtuzumab", "cbc", DUE_ON, 1),
    }
    assert decide(SlotStatus.OVERDUE, date(2026, 6, 1), already) == []


@pytest.mark.parametrize("status", [SlotStatus.MISSED, SlotStatus.LATE, SlotStatus.DONE])
def test_no_overdue_reminder_unless_overdue(status: SlotStatus) -> None:
    assert decide(status, date(2026, 3, 30)) == []


@pytest.mark.parametrize(
    ("name", "expected"), [("Ann Example", "Ann"), ("  Jo  ", "Jo"), ("", ""), ("Li", "Li")]
)
def test_first_name_is_the_first_word(name: str, expected: str) -> None:
    assert first_name(name) == expected
