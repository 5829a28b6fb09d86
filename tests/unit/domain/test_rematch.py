"""`domain.rematch`: which slots a result can change, and that re-matching them gives what
`match_results` gives for the whole series (SPEC §3.2)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from monitor.config import Config
from monitor.domain.catalogue import Catalogue
from monitor.domain.rematch import MatchedSlot, rematch, touched_slots
from monitor.domain.schedule import PlannedSlot, SlotKind
from monitor.domain.status import CountedResult, match_results

CATALOGUE: Catalogue = Config().catalogue
REQUIRED = {("alemtuzumab", "cbc"): ("platelets", "neutrophils", "hemoglobin")}


def required(protocol: str, panel: str) -> tuple[str, ...]:
    return REQUIRED[protocol, panel]


def slot(n: int, start: date, end: date, next_start: date | None) -> MatchedSlot:
    return MatchedSlot(n, "alemtuzumab", "cbc", start, end, next_start, None, None)


JAN = slot(1, date(2024, 1, 1), date(2024, 1, 14), date(2024, 2, 1))
FEB = slot(2, date(2024, 2, 1), date(2024, 2, 14), None)  # the last slot: late for ever


def test_a_result_after_the_window_counts_late_until_the_next_window_opens() -> None:
    on = [CountedResult("platelets", date(2024, 1, 20))]
    assert touched_slots([JAN, FEB], required, on) == [JAN]
    on = [CountedResult("platelets", date(2024, 2, 1))]
    assert touched_slots([JAN, FEB], required, on) == [FEB]  # JAN's next window is open
    on = [CountedResult("platelets", date(2025, 6, 1))]
    assert touched_slots([JAN, FEB], required, on) == [FEB]
    on = [CountedResult("tsh", date(2024, 1, 5))]
    assert touched_slots([JAN, FEB], required, on) == []  # not the panel's analyte


def test_a_slot_is_done_on_its_last_required_analyte() -> None:
    results = [
        CountedResult("platelets", date(2024, 1, 3)),
        CountedResult("neutrophils", date(2024, 1, 5)),
        CountedResult("hemoglobin", date(2024, 1, 20)),  # late
    ]
    assert [(c.id, c.done_on, c.completed_on) for c in rematch([JAN], required, results)] == [
        (1, None, date(2024, 1, 20))
    ]


DAYS = st.dates(min_value=date(2023, 12, 1), max_value=date(2024, 4, 1))
ANALYTES = st.sampled_from(("platelets", "neutrophils", "hemoglobin"))


@given(st.lists(st.tuples(ANALYTES, DAYS), max_size=12))
def test_rematching_every_slot_gives_match_results(pairs: list[tuple[str, date]]) -> None:
    results = [CountedResult(a, d) for a, d in pairs]
    planned = [
        PlannedSlot("cbc", s.window_start, s.window_start, s.window_end, 1, SlotKind.RECURRING)
        for s in (JAN, FEB)
    ]
    expected = {
        p.slot.window_start: (p.done_on, p.completed_on)
        for p in match_results(planned, results, CATALOGUE)
    }
    changed = {c.id: (c.done_on, c.completed_on) for c in rematch([JAN, FEB], required, results)}
    for stored in (JAN, FEB):
        assert changed.get(stored.id, (None, None)) == expected[stored.window_start]
