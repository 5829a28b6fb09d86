"""A protocol in plain words (monitor/domain/plan_words.py): hand-written sentences for panels
and protocols written as their TOML tables, so a clinician's reading matches the due dates."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from monitor.domain.lengths import Length, Unit
from monitor.domain.phases import Kind, build_panel, build_protocol, due_dates
from monitor.domain.plan_words import (
    at_words,
    length_words,
    monitoring_words,
    schedule_words,
    window_words,
)


def panel(**keys: Any):  # type: ignore[no-untyped-def]
    return build_panel("p", {"analytes": ["alt"], **keys}, "protocols.x.panels.p")


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ({"every_months": 1}, "every month"),
        ({"every_months": 3}, "every 3 months"),
        ({"every_months": 12, "baseline": True},
         "before each course's first dose (baseline), then every 12 months"),
        ({"phases": [{"every": "1w"}]}, "every week"),
        ({"phases": [{"every": "1d"}]}, "every day"),
        ({"phases": [{"every": "14d"}]}, "every 14 days"),
        ({"phases": [{"every": "2w", "until": "6m"}, {"every": "2m"}]},
         "every 2 weeks for 6 months, then every 2 months"),
        ({"phases": [{"every": "1m", "until": "1m"}, {"every": "3m"}]},
         "every month for 1 month, then every 3 months"),
        ({"phases": [{"every": "1m", "until": "6m"}, {"every": "3m", "until": "24m"},
                     {"every": "6m"}]},
         "every month for 6 months, then every 3 months until month 24, then every 6 months"),
        ({"phases": [{"every": "1w", "until": "4w"}, {"every": "2w", "until": "12w"},
                     {"every": "1m", "from": "3m"}]},
         "every week for 4 weeks, then every 2 weeks until week 12, and every month after "
         "month 3"),
        ({"phases": [{"at": ["2m", "6m"]}, {"every": "12m", "from": "6m"}]},
         "at 2 and 6 months, then every 12 months"),
        ({"phases": [{"at": ["2m", "6m"]}, {"every": "12m", "from": "12m"}]},
         "at 2 and 6 months, and every 12 months after month 12"),
        ({"phases": [{"at": ["3m"]}]}, "at 3 months"),
        ({"phases": [{"at": ["1m"]}]}, "at 1 month"),
        ({"phases": [{"at": ["1m", "3m", "6m"]}]}, "at 1, 3 and 6 months"),
        ({"phases": [{"at": ["2w", "1m", "6m"]}]}, "at 2 weeks, 1 month and 6 months"),
        ({"phases": [{"at": ["10d"]}]}, "at 10 days"),
        ({"phases": [{"every": "3m", "from": "6m", "until": "24m"}]},
         "every 3 months after month 6 until month 24"),
        ({"phases": [{"every": "3m", "from": "6m"}]}, "every 3 months after month 6"),
        ({"phases": [{"every": "1m", "until": "6m"}, {"at": ["9m"]}]},
         "every month for 6 months, and at 9 months"),
        ({"phases": [{"every": "1m", "until": "6m"}, {"every": "3m", "from": "0m"}]},
         "every month for 6 months, and every 3 months from the start"),
        ({"phases": [{"every": "2w", "from": "10m", "until": "12m"}]},
         "every 2 weeks after month 10 until month 12"),
        ({"phases": [{"every": "1w", "from": "0w", "until": "6m"}]}, "every week for 6 months"),
        ({"every_months": 1, "sex": "F"}, "every month; women only (recorded sex F)"),
        ({"every_months": 6, "sex": "M"}, "every 6 months; men only (recorded sex M)"),
        ({"every_months": 12, "indefinite": True},
         "every 12 months, for as long as the patient is active, beyond the end of monitoring"),
        ({"phases": [{"at": ["3m", "9m"]}], "indefinite": True},
         "at 3 and 9 months; the end of monitoring does not cut it short"),
        ({"every_months": 12, "baseline": True, "indefinite": True, "sex": "F"},
         "before each course's first dose (baseline), then every 12 months, for as long as the "
         "patient is active, beyond the end of monitoring; women only (recorded sex F)"),
    ],
)  # fmt: skip
def test_a_panels_schedule_in_words(keys: dict[str, Any], words: str) -> None:
    assert schedule_words(panel(**keys)) == words


def test_a_continuous_baseline_is_at_the_start() -> None:
    words = schedule_words(panel(every_months=3, baseline=True), Kind.CONTINUOUS)
    assert words == "at the start (baseline), then every 3 months"


def test_after_month_6_means_the_first_test_is_one_step_later() -> None:
    """The words' "after" and "until" against the due dates they describe."""
    schedule = panel(phases=[{"every": "3m", "from": "6m", "until": "24m"}])
    dates = due_dates(schedule, date(2025, 1, 15), date(2030, 1, 1))
    assert "after month 6 until month 24" in schedule_words(schedule)
    assert dates[0] == date(2025, 10, 15) and dates[-1] == date(2027, 1, 15)  # months 9 and 24


@pytest.mark.parametrize(
    ("length", "words"),
    [((1, Unit.DAYS), "1 day"), ((2, Unit.DAYS), "2 days"), ((1, Unit.WEEKS), "1 week"),
     ((3, Unit.WEEKS), "3 weeks"), ((1, Unit.MONTHS), "1 month"), ((48, Unit.MONTHS), "48 months")],
)  # fmt: skip
def test_lengths_have_the_right_number(length: tuple[int, Unit], words: str) -> None:
    assert length_words(Length(*length)) == words


def test_at_offsets_in_one_unit_share_it() -> None:
    assert at_words((Length(2, Unit.MONTHS), Length(6, Unit.MONTHS))) == "at 2 and 6 months"


@pytest.mark.parametrize(
    ("before", "after", "words"),
    [(7, 7, "7 days before to 7 days after the due date"),
     (1, 14, "1 day before to 14 days after the due date"),
     (0, 7, "the due date to 7 days after the due date"),
     (30, 0, "30 days before to the due date"),
     (0, 0, "the due date only")],
)  # fmt: skip
def test_a_window_in_words(before: int, after: int, words: str) -> None:
    keys = {"every_months": 1, "window_before_days": before, "window_after_days": after}
    assert window_words(panel(**keys)) == words


def protocol(**keys: Any):  # type: ignore[no-untyped-def]
    panels = keys.pop("panels", {"p": {"analytes": ["alt"], "every_months": 1}})
    return build_protocol("x", {"panels": panels, **keys})


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ({}, "Monitoring ends 48 months after the last dose of the last course. Times count "
             "from the last dose of each course."),
        ({"monitoring_months": 1}, "Monitoring ends 1 month after the last dose of the last "
                                   "course. Times count from the last dose of each course."),
        ({"kind": "continuous", "after_stop_months": 3},
         "Continuous: monitoring goes on while the treatment is taken and for 3 months after a "
         "stop. Times count from the treatment's start."),
        ({"kind": "continuous"}, "Continuous: monitoring goes on while the treatment is taken, "
                                 "and ends at a stop. Times count from the treatment's start."),
        ({"kind": "continuous", "after_stop_months": 1, "monitoring_months": 24},
         "Continuous: monitoring goes on while the treatment is taken and for 1 month after a "
         "stop; it ends 24 months after the start at the latest. Times count from the "
         "treatment's start."),
        ({"baseline_window_days": 14,
          "panels": {"p": {"analytes": ["alt"], "every_months": 1, "baseline": True}}},
         "Monitoring ends 48 months after the last dose of the last course. Times count from "
         "the last dose of each course. Baseline tests are due on each course's first dose, "
         "taken up to 14 days before."),
        ({"kind": "continuous", "baseline_window_days": 1,
          "panels": {"p": {"analytes": ["alt"], "every_months": 1, "baseline": True}}},
         "Continuous: monitoring goes on while the treatment is taken, and ends at a stop. "
         "Times count from the treatment's start. Baseline tests are due on the start, taken "
         "up to 1 day before."),
    ],
)  # fmt: skip
def test_a_protocols_end_in_words(keys: dict[str, Any], words: str) -> None:
    assert monitoring_words(protocol(**keys)) == words
