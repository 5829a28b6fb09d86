"""The SVG charts and the schedule grid, without a database."""

from __future__ import annotations

from datetime import date

from monitor.domain.courses import Course
from monitor.domain.rules import RuleSettings
from monitor.domain.status import SlotStatus
from monitor.services.people.record import TreatmentView
from monitor.services.schedule.view import SlotView
from monitor.web.charts import Band, Point, chart_svg, default_band
from monitor.web.grid import schedule_grid, treatment_grids
from monitor.web.timeline import Event, EventKind
from tests.conftest import clinic_config


def test_a_chart_marks_the_band_the_infusions_and_values_outside() -> None:
    svg = chart_svg(
        "Platelets",
        "10^9/L",
        [Point(date(2026, 1, 5), 250.0), Point(date(2026, 2, 5), 80.0)],
        Band(150.0, 400.0),
        [Event(date(2026, 1, 1), EventKind.INFUSION, "alemtuzumab", "Alemtuzumab", 1)],
        date(2026, 3, 1),
    )
    assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
    assert svg.count('class="band"') == 1 and svg.count('class="infusion"') == 1
    assert "<title>Alemtuzumab: course 1, dose 2026-01-01</title>" in svg
    assert svg.count('class="dot out"') == 1, "80 is below the band"
    assert "2026-02-05: 80 10^9/L" in svg


def test_a_chart_marks_a_treatment_start_and_stop_in_its_span_only() -> None:
    nat = "<Site> natalizumab"
    svg = chart_svg(
        "ALT",
        "U/L",
        [Point(date(2026, 1, 5), 20.0), Point(date(2026, 4, 5), 30.0)],
        Band(None, 40.0),
        [
            Event(date(2026, 1, 2), EventKind.START, "site_nat", nat),
            Event(date(2026, 3, 1), EventKind.STOP, "site_nat", nat),
            Event(date(2026, 9, 1), EventKind.START, "site_nat", nat),  # after today
        ],
        date(2026, 5, 1),
    )
    assert svg.count('class="start"') == 1 and svg.count('class="stop"') == 1
    assert "&lt;Site&gt; natalizumab: stopped 2026-03-01" in svg and nat not in svg


def test_chart_text_is_escaped() -> None:
    svg = chart_svg(
        "<b>", "<i>", [Point(date(2026, 1, 5), 1.0)], Band(None, None), [], date(2026, 1, 9)
    )
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "<i>" not in svg


def test_default_bands_follow_the_rule_settings() -> None:
    settings = RuleSettings()
    assert default_band("platelets", settings, "F") == Band(150.0, 400.0)
    assert default_band("creatinine", settings, "M") == Band(60.0, 110.0)
    assert default_band("alt", settings, None) == Band(None, 40.0)


def test_the_grid_spans_whole_years_and_puts_slots_in_their_month() -> None:
    slots = [
        SlotView(
            "cbc",
            date(2025, 11, 20),
            date(2025, 11, 13),
            date(2025, 11, 27),
            1,
            "monthly",
            SlotStatus.DONE,
            (),
        ),
        SlotView(
            "cbc",
            date(2026, 1, 20),
            date(2026, 1, 13),
            date(2026, 1, 27),
            1,
            "monthly",
            SlotStatus.OVERDUE,
            (),
        ),
    ]
    grid = schedule_grid(slots, ["cbc", "tsh"], date(2026, 2, 20), date(2026, 2, 1))
    assert [block.year for block in grid] == [2025, 2026]
    [row] = grid[0].rows  # tsh has no slots, so no row
    cells = {cell.month: cell for cell in row.cells}
    assert not cells[10].in_range and cells[11].in_range
    assert cells[11].slots[0].status is SlotStatus.DONE
    assert grid[1].rows[0].cells[1].is_now and not grid[1].rows[0].cells[2].in_range


def slot(panel: str, due: date, protocol: str, treatment: int) -> SlotView:
    window = (due.replace(day=1), due.replace(day=28))
    return SlotView(
        panel, due, *window, None, "recurring", SlotStatus.UPCOMING, (), protocol, treatment
    )


def test_each_treatment_has_its_own_grid_with_its_panels_and_its_dates() -> None:
    """Alemtuzumab's course and a continuous treatment stopped later: two sections, each with
    only its own slots, its doses or its start and stop on its own row."""
    course = Course(tuple(date(2025, 1, d) for d in range(6, 11)))
    treatments = (
        TreatmentView(1, "alemtuzumab", "Alemtuzumab", "courses", course.first_on, None, (course,)),
        TreatmentView(
            2, "natalizumab", "Nat", "continuous", date(2025, 3, 3), date(2025, 9, 3), ()
        ),
    )
    slots = [
        slot("cbc", date(2025, 2, 10), "alemtuzumab", 1),
        slot("jcv", date(2025, 3, 3), "natalizumab", 2),
        slot("cbc", date(2025, 3, 10), "alemtuzumab", 1),
    ]
    catalogue = clinic_config().catalogue
    alem, nat = treatment_grids(slots, treatments, catalogue, date(2025, 4, 1))
    assert [row.panel for row in alem.blocks[0].rows] == ["cbc"]
    assert [row.panel for row in nat.blocks[0].rows] == ["jcv"]
    assert alem.ends_on == date(2029, 1, 10), "48 months after the last dose"
    assert [b.year for b in alem.blocks] == [2025, 2026, 2027, 2028, 2029]
    [dose] = alem.blocks[0].marks[0].marks
    assert (dose.text, dose.on) == ("C1", date(2025, 1, 6)) and "10 Jan 2025" in dose.words
    marks = {(cell.month, m.kind) for cell in nat.blocks[0].marks for m in cell.marks}
    assert marks == {(3, "start"), (9, "stop")}
    assert not nat.blocks[0].marks[1].in_range and nat.blocks[0].marks[2].in_range
