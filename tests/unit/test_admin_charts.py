"""The SVG charts: accessible names, escaped labels, scales that fit the data."""

from __future__ import annotations

import itertools
import re

from lxml import etree

from newsletter.admin.charts import bar_chart, line_chart, nice_max
from newsletter.admin.dashboard import Series

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_max_is_round_and_not_below_the_value() -> None:
    for value, expected in ((0, 4), (3, 4), (7, 8), (37, 40), (96, 100), (101, 200), (1234, 2000)):
        assert nice_max(value) == expected, value
    for value in range(1, 5000, 37):
        top = nice_max(value)
        assert top >= value
        assert top % 4 == 0


def test_line_chart_is_described_and_escaped() -> None:
    svg = str(
        line_chart(
            "Iscritti <per> tema",
            "Ultima settimana: 5.",
            ["1/9", "8/9"],
            [Series("welfare", "Welfare & co", (2, 5))],
        )
    )
    tree = etree.fromstring(svg.encode())
    assert tree.get("role") == "img"
    title_id, desc_id = tree.get("aria-labelledby").split()
    assert tree.find(f"{SVG}title").get("id") == title_id
    assert tree.find(f"{SVG}title").text == "Iscritti <per> tema"
    assert tree.find(f"{SVG}desc").get("id") == desc_id
    labels = [t.text for t in tree.iter(f"{SVG}text")]
    assert "Welfare & co 5" in labels
    assert len(list(tree.iter(f"{SVG}circle"))) == 2


def test_line_end_labels_do_not_overlap() -> None:
    series = [Series(str(i), f"S{i}", (10, 10)) for i in range(4)]
    svg = str(line_chart("t", "d", ["a", "b"], series))
    ys = sorted(float(y) for y in re.findall(r'class="label t\d" x="[\d.]+" y="([\d.]+)"', svg))
    assert len(ys) == 4
    assert all(b - a >= 14 for a, b in itertools.pairwise(ys))


def test_stacked_bars_add_up_and_grouped_bars_sit_side_by_side() -> None:
    series = [Series("sent", "Sent", (30, 0)), Series("failed", "Failed", (10, 0))]
    stacked = etree.fromstring(str(bar_chart("t", "d", ["1", "2"], series, stacked=True)).encode())
    bars = [r for r in stacked.iter(f"{SVG}rect") if "bar" in r.get("class")]
    assert len(bars) == 2  # zero values draw nothing
    heights = [float(b.get("height")) for b in bars]
    assert abs(heights[0] / heights[1] - 3) < 0.01
    assert bars[0].get("x") == bars[1].get("x")
    grouped = etree.fromstring(str(bar_chart("t", "d", ["1", "2"], series)).encode())
    gbars = [r for r in grouped.iter(f"{SVG}rect") if "bar" in r.get("class")]
    assert gbars[0].get("x") != gbars[1].get("x")
    assert gbars[0].get("y") != gbars[1].get("y")
