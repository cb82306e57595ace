"""Server-rendered SVG charts: no script, readable by screen readers (title, desc, role=img).

Colours come from CSS classes (``c0``..``c3`` in admin.css) so the palette lives in one
place and meets 3:1 contrast on white; lines also differ by marker shape and dash, so no
series is told apart by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import count

from markupsafe import Markup, escape

from newsletter.admin.dashboard import Series

# Small view boxes with 13-unit text: the charts scale to the column, and text stays
# readable both on a 360px phone (about 11px) and in a desktop column (about 16px).
HEIGHT = 230
LEFT = 36
RIGHT = 10
TOP = 12
BOTTOM = 30
LINE_WIDTH = 440
LINE_LABELS = 130  # room right of the lines for "Governance 120"
BAR_WIDTH = 400
LABEL_GAP = 15
DASHES = ("", "6 3", "2 3", "8 3 2 3")
_ids = count(1)


def nice_max(value: int) -> int:
    """A round axis maximum: four grid steps of 1, 2, 2.5 or 5 × 10^n covering ``value``."""
    if value <= 4:
        return 4
    magnitude = 10 ** max(math.floor(math.log10(value / 4)), 0)
    for step in (1, 2, 2.5, 5, 10):
        tick = step * magnitude
        if tick == int(tick) and 4 * tick >= value:
            return int(4 * tick)
    return int(40 * magnitude)


def _frame(chart_id: str, title: str, desc: str, body: list[str], width: int) -> Markup:
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    # Every text that reaches the SVG (titles, labels) went through escape() first.
    return Markup(  # noqa: S704
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {width} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(title)}</title><desc id="{desc_id}">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _axes(top: int, labels: Sequence[str], x_of: list[float], right: float) -> list[str]:
    """Horizontal grid lines with their values, and every other period label under the axis."""
    body = []
    plot_bottom = HEIGHT - BOTTOM
    for i in range(5):
        value = top * i // 4
        y = plot_bottom - (plot_bottom - TOP) * i / 4
        body.append(
            f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    step = 1 if len(labels) <= 8 else 2
    last = len(labels) - 1
    for i, label in enumerate(labels):
        if (last - i) % step == 0:
            body.append(
                f'<text class="tick" x="{x_of[i]:.1f}" y="{plot_bottom + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return body


def line_chart(title: str, desc: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Lines with a marker per point and the series name at the end of each line."""
    chart_id = f"chart-{next(_ids)}"
    width = LINE_WIDTH
    right = width - LINE_LABELS
    top = nice_max(max((max(s.values, default=0) for s in series), default=0))
    plot_w = right - LEFT
    plot_bottom = HEIGHT - BOTTOM
    n = max(len(labels), 2)
    x_of = [LEFT + 10 + (plot_w - 20) * i / (n - 1) for i in range(len(labels))]

    def y_of(value: int) -> float:
        return plot_bottom - (plot_bottom - TOP) * value / top

    body = _axes(top, labels, x_of, right)
    ends: list[tuple[float, int, Series]] = []
    for index, s in enumerate(series):
        points = " ".join(f"{x_of[i]:.1f},{y_of(v):.1f}" for i, v in enumerate(s.values))
        dash = f' stroke-dasharray="{DASHES[index % 4]}"' if DASHES[index % 4] else ""
        body.append(f'<polyline class="line c{index % 4}" points="{points}"{dash}/>')
        for i, v in enumerate(s.values):
            body.append(_marker(index % 4, x_of[i], y_of(v)))
        if s.values:
            ends.append((y_of(s.values[-1]), index, s))
    # Direct labels at the line ends, pushed apart so they never overlap.
    ends.sort()
    placed: list[float] = []
    for y, index, s in ends:
        y_label = max(y + 4, (placed[-1] + LABEL_GAP) if placed else TOP + 4)
        placed.append(y_label)
        body.append(
            f'<text class="label t{index % 4}" x="{right + 6}" y="{y_label:.1f}">'
            f"{escape(s.label)} {s.values[-1]}</text>"
        )
    return _frame(chart_id, title, desc, body, width)


def _marker(index: int, x: float, y: float) -> str:
    cls = f'class="mark c{index}"'
    if index == 0:
        return f'<circle {cls} cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>'
    if index == 1:
        return f'<rect {cls} x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7"/>'
    if index == 2:
        return f'<path {cls} d="M{x:.1f},{y - 4.5:.1f} l4.5,8 h-9 z"/>'
    return f'<path {cls} d="M{x:.1f},{y - 5:.1f} l5,5 l-5,5 l-5,-5 z"/>'


def bar_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    colors: Sequence[int] = (0, 1, 2, 3),
) -> Markup:
    """Bars per period: side by side (grouped) or on top of each other (stacked)."""
    chart_id = f"chart-{next(_ids)}"
    width = BAR_WIDTH
    right = width - RIGHT
    if stacked:
        peak = max((sum(vals) for vals in zip(*(s.values for s in series), strict=True)), default=0)
    else:
        peak = max((max(s.values, default=0) for s in series), default=0)
    top = nice_max(peak)
    plot_w = right - LEFT
    plot_bottom = HEIGHT - BOTTOM
    slot = plot_w / max(len(labels), 1)
    x_of = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    body = _axes(top, labels, x_of, right)
    scale = (plot_bottom - TOP) / top
    group_w = slot * 0.7
    for i in range(len(labels)):
        left = x_of[i] - group_w / 2
        base = float(plot_bottom)
        for index, s in enumerate(series):
            value = s.values[i]
            height = value * scale
            if stacked:
                x, bar_w, y = left, group_w, base - height
                base -= height
            else:
                bar_w = group_w / len(series)
                x, y = left + index * bar_w, plot_bottom - height
            if value:
                body.append(
                    f'<rect class="bar c{colors[index % len(colors)]}" x="{x:.1f}" y="{y:.1f}" '
                    f'width="{bar_w:.1f}" height="{height:.1f}"/>'
                )
    body.append(
        f'<line class="axis" x1="{LEFT}" x2="{right}" y1="{plot_bottom}" y2="{plot_bottom}"/>'
    )
    return _frame(chart_id, title, desc, body, width)
