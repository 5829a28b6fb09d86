"""The SVG charts and the schedule grid, without a database."""

from __future__ import annotations

from datetime import date

from monitor.domain.rules import RuleSettings
from monitor.domain.status import SlotStatus
from monitor.services.schedule.view import SlotView
from monitor.web.charts import Band, Point, chart_svg, default_band
from monitor.web.grid import schedule_grid


def test_a_chart_marks_the_band_the_infusions_and_values_outside() -> None:
    svg = chart_svg(
        "Platelets",
        "10^9/L",
        [Point(date(2026, 1, 5), 250.0), Point(date(2026, 2, 5), 80.0)],
        Band(150.0, 400.0),
        [date(2026, 1, 1)],
        date(2026, 3, 1),
    )
    assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
    assert svg.count('class="band"') == 1 and svg.count('class="infusion"') == 1
    assert svg.count('class="dot out"') == 1, "80 is below the band"
    assert "2026-02-05: 80 10^9/L" in svg


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
