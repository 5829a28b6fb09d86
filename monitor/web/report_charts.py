"""The Reports page's charts, drawn on the server as inline SVG like `web.charts`: the on-time
percentage month by month (a line per panel) and the days past due of the slots not done on
time (a bar per bin, late ones and those still not done stacked).

No JavaScript and no charting library: the page prints as it looks, and the Content-Security-
Policy forbids inline styles, so colours come from the stylesheet by class (`series-N`, `late`,
`not-done`). Every text is escaped; the numbers are formatted here.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from monitor.services.reports.adherence import LatenessBin, PanelSeries

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 30, 12, 34
SERIES_CLASSES = 10  # series-0 .. series-9 in worklist.css, then they repeat


def series_class(index: int) -> str:
    return f"series-{index % SERIES_CLASSES}"


def on_time_chart(series: Sequence[PanelSeries], months: Sequence[str]) -> Markup | None:
    """A line per panel: on-time % by month (a gap where nothing was assessed); None if no
    month of any panel has an assessed slot."""
    if not months or all(value is None for s in series for _, value in s.points):
        return None
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(len(months) - 1, 1)

    def x(index: int) -> float:
        return LEFT + (step * index if len(months) > 1 else inner_w / 2)

    def y(percent: float) -> float:
        return TOP + inner_h * (1 - percent / 100)

    parts = [
        f'<svg class="chart report-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-label="On-time percentage by month, one line per panel">'
    ]
    for percent in (0, 25, 50, 75, 100):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(percent):.1f}" '
            f'y2="{y(percent):.1f}"/><text class="tick" x="{LEFT - 4}" y="{y(percent) + 3:.1f}" '
            f'text-anchor="end">{percent} %</text>'
        )
    every = max(1, len(months) // 12)  # at most about 12 month labels
    for index, month in enumerate(months):
        if index % every == 0:
            parts.append(
                f'<text class="tick" x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle">{escape(month)}</text>'
            )
    for number, line in enumerate(series):
        kind = series_class(number)
        for run in _runs(line.points):
            coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            parts.append(f'<polyline class="trace {kind}" points="{coords}"/>')
        for index, (month, value) in enumerate(line.points):
            if value is None:
                continue
            label = f"{line.protocol} {line.panel} {month}: {value:.1f} % on time"
            parts.append(
                f'<circle class="dot {kind}" cx="{x(index):.1f}" cy="{y(value):.1f}" r="2.6">'
                f"<title>{escape(label)}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(points: Sequence[tuple[str, float | None]]) -> list[list[tuple[int, float]]]:
    """The points split at the months with no value, each run of two or more points."""
    runs: list[list[tuple[int, float]]] = [[]]
    for index, (_, value) in enumerate(points):
        if value is None:
            runs.append([])
        else:
            runs[-1].append((index, value))
    return [run for run in runs if len(run) > 1]


def lateness_chart(bins: Sequence[LatenessBin]) -> Markup | None:
    """A bar per bin of days past due: late (completed after the window) below, not done
    (overdue or missed) above; None when every slot was done on time."""
    top = max((b.late + b.not_done for b in bins), default=0)
    if top == 0:
        return None
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot_w = inner_w / len(bins)
    bar_w = slot_w * 0.64

    def height(count: int) -> float:
        return inner_h * count / top

    parts = [
        f'<svg class="chart report-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-label="Slots not done on time by days past the due date">',
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + inner_h}" '
        f'y2="{TOP + inner_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 3}" text-anchor="end">{top:,}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + inner_h + 3}" text-anchor="end">0</text>',
    ]
    for index, b in enumerate(bins):
        left = LEFT + slot_w * index + (slot_w - bar_w) / 2
        base = TOP + inner_h
        late_h, open_h = height(b.late), height(b.not_done)
        parts.append(
            f'<rect class="bar late" x="{left:.1f}" y="{base - late_h:.1f}" width="{bar_w:.1f}" '
            f'height="{late_h:.1f}"><title>{escape(b.label)} days: {b.late:,} late</title></rect>'
            f'<rect class="bar not-done" x="{left:.1f}" y="{base - late_h - open_h:.1f}" '
            f'width="{bar_w:.1f}" height="{open_h:.1f}"><title>{escape(b.label)} days: '
            f"{b.not_done:,} not done</title></rect>"
            f'<text class="tick" x="{left + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
            f'text-anchor="middle">{escape(b.label)}</text>'
            f'<text class="tick" x="{left + bar_w / 2:.1f}" y="{base - late_h - open_h - 3:.1f}" '
            f'text-anchor="middle">{b.late + b.not_done:,}</text>'
        )
    parts.append(
        f'<text class="tick" x="{LEFT + inner_w / 2:.1f}" y="{HEIGHT - 4}" '
        'text-anchor="middle">days past the due date</text></svg>'
    )
    return Markup("".join(parts))
