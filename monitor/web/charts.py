"""Small server-side SVG charts: one key analyte over time, its reference band, and each
treatment's dates (`web.timeline`: every dose of a course, a continuous treatment's start and
stop).

Drawn on the server so the page needs no JavaScript and prints as it looks. Colours come from
the stylesheet (class names only), because the Content-Security-Policy forbids inline styles.
Every piece of text is escaped; the numbers are formatted by us.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from monitor.domain.rules import RuleSettings
from monitor.domain.units import UNITS, unit_factor
from monitor.domain.vocabulary import COUNTING_STATUSES
from monitor.errors import InvalidInput
from monitor.services.results.history import ResultView
from monitor.web.timeline import Event

KEY_ANALYTES = ("platelets", "neutrophils", "creatinine", "tsh", "alt")
LABELS = {
    "platelets": "Platelets",
    "neutrophils": "Neutrophils",
    "creatinine": "Creatinine",
    "tsh": "TSH",
    "alt": "ALT",
}
# Upper ends the rules do not need (they only flag low counts), for drawing the band.
USUAL_HIGH = {"platelets": 400.0, "neutrophils": 7.5}

WIDTH, HEIGHT = 360, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 22


@dataclass(frozen=True)
class Point:
    on: date
    value: float


@dataclass(frozen=True)
class Band:
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Chart:
    analyte: str
    label: str
    unit: str
    svg: Markup | None


def default_band(analyte: str, settings: RuleSettings, sex: str | None) -> Band:
    """The band the rules use when the lab sends no range (canonical unit)."""
    suffix = {"F": "f", "M": "m"}.get(sex or "", "x")
    if analyte == "platelets":
        return Band(settings.platelets.review_below, USUAL_HIGH["platelets"])
    if analyte == "neutrophils":
        return Band(settings.neutrophils.review_below, USUAL_HIGH["neutrophils"])
    if analyte == "creatinine":
        c = settings.creatinine
        return Band(getattr(c, f"low_{suffix}"), getattr(c, f"high_{suffix}"))
    if analyte == "tsh":
        return Band(settings.tsh.low, settings.tsh.high)
    if analyte == "alt":
        return Band(None, settings.alt.uln)
    return Band(None, None)


def lab_band(result: ResultView) -> Band | None:
    """The range the lab sent with this result, in the canonical unit, if any."""
    if result.ref_low is None and result.ref_high is None:
        return None
    try:
        factor = unit_factor(result.analyte, result.unit)
    except InvalidInput:  # an ordinal or unknown unit: no band to draw
        return None
    low = None if result.ref_low is None else result.ref_low * factor
    high = None if result.ref_high is None else result.ref_high * factor
    return Band(low, high)


def patient_charts(
    results: Sequence[ResultView],
    events: Sequence[Event],
    settings: RuleSettings,
    sex: str | None,
    today: date,
) -> list[Chart]:
    """One chart per key analyte (counting results only: final and corrected)."""
    charts = []
    for analyte in KEY_ANALYTES:
        rows = sorted(
            (r for r in results if r.analyte == analyte and r.status in COUNTING_STATUSES),
            key=lambda r: r.collected_on,
        )
        points = [
            Point(r.collected_on, r.canonical_value) for r in rows if r.canonical_value is not None
        ]
        band = next((b for r in reversed(rows) if (b := lab_band(r)) is not None), None)
        band = band or default_band(analyte, settings, sex)
        unit = UNITS[analyte][0]
        svg = chart_svg(LABELS[analyte], unit, points, band, events, today) if points else None
        charts.append(Chart(analyte, LABELS[analyte], unit, svg))
    return charts


@dataclass(frozen=True)
class _Frame:
    """Maps dates and values to SVG coordinates."""

    start: date
    end: date
    top_value: float

    def x(self, on: date) -> float:
        span = max((self.end - self.start).days, 1)
        return LEFT + (WIDTH - LEFT - RIGHT) * (on - self.start).days / span

    def y(self, value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / self.top_value)


def chart_svg(
    label: str,
    unit: str,
    points: Sequence[Point],
    band: Band,
    events: Sequence[Event],
    today: date,
) -> Markup:
    """The chart as an inline <svg> element."""
    start = min([points[0].on, *(event.on for event in events)])
    end = max(points[-1].on, today)
    top = max([p.value for p in points] + [band.high or 0.0]) * 1.15 or 1.0
    frame = _Frame(start, end, top)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)} over time in {escape(unit)}">',
        _band(frame, band),
        _axes(frame),
        *(_event(frame, event) for event in events if start <= event.on <= end),
        _line(frame, points),
        *(_dot(frame, p, band, unit) for p in points),
        "</svg>",
    ]
    return Markup("".join(parts))


def _band(frame: _Frame, band: Band) -> str:
    low = band.low if band.low is not None else 0.0
    high = band.high if band.high is not None else frame.top_value
    y_high, y_low = frame.y(min(high, frame.top_value)), frame.y(low)
    return (
        f'<rect class="band" x="{LEFT}" y="{y_high:.1f}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{max(y_low - y_high, 0):.1f}"><title>reference range</title></rect>'
    )


def _axes(frame: _Frame) -> str:
    bottom = HEIGHT - BOTTOM
    ticks = []
    for fraction in (0.0, 0.5, 1.0):
        value = frame.top_value / 1.15 * fraction
        y = frame.y(value)
        ticks.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">'
            f"{_num(value)}</text>"
        )
    return (
        "".join(ticks)
        + f'<text class="tick" x="{LEFT}" y="{bottom + 14}">{frame.start.strftime("%b %Y")}</text>'
        + f'<text class="tick" x="{WIDTH - RIGHT}" y="{bottom + 14}" text-anchor="end">'
        + f"{frame.end.strftime('%b %Y')}</text>"
    )


def _event(frame: _Frame, event: Event) -> str:
    """A vertical line on the event's day, classed by its kind (infusion, start, stop)."""
    x = frame.x(event.on)
    return (
        f'<line class="{event.kind.value}" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
        f'y2="{HEIGHT - BOTTOM}"><title>{escape(event.words)}</title></line>'
    )


def _line(frame: _Frame, points: Sequence[Point]) -> str:
    coords = " ".join(f"{frame.x(p.on):.1f},{frame.y(p.value):.1f}" for p in points)
    return f'<polyline class="trace" points="{coords}"/>'


def _dot(frame: _Frame, point: Point, band: Band, unit: str) -> str:
    outside = (band.low is not None and point.value < band.low) or (
        band.high is not None and point.value > band.high
    )
    kind = "dot out" if outside else "dot"
    return (
        f'<circle class="{kind}" cx="{frame.x(point.on):.1f}" '
        f'cy="{frame.y(point.value):.1f}" r="2.6">'
        f"<title>{point.on.isoformat()}: {_num(point.value)} {escape(unit)}</title></circle>"
    )


def _num(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"
