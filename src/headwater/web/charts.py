"""Small SVG charts drawn on the server: no charting library to ship, nothing for a browser
to run, and the picture is in the page a test fetches.

A chart is a list of bars with a label and a value; each bar carries a ``<title>`` (the
browser's tooltip) with its label and value, so the exact numbers are one hover away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
HEIGHT = 160
AXIS = 18  # room for the labels under the bars


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # under the bar (may be empty, to thin out crowded axes)
    value: float
    title: str  # the tooltip: what the bar is, exactly
    tone: str = "ok"  # a CSS class: ok, failed, running


def bar_chart(bars: Sequence[Bar], *, caption: str, unit: str = "") -> str:
    """An accessible SVG bar chart (``role="img"`` with ``caption`` as its name)."""
    if not bars:
        return f'<p class="empty">{escape(caption)}: nothing yet.</p>'
    top = max(bar.value for bar in bars) or 1.0
    step = WIDTH / len(bars)
    width = max(step * 0.8, 1.0)
    plot = HEIGHT - AXIS
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(caption)}">',
        f"<title>{escape(caption)}</title>",
    ]
    for i, bar in enumerate(bars):
        height = plot * bar.value / top
        x = i * step + (step - width) / 2
        parts.append(
            f'<rect class="bar {escape(bar.tone)}" x="{x:.1f}" y="{plot - height:.1f}" '
            f'width="{width:.1f}" height="{height:.1f}"><title>{escape(bar.title)}</title></rect>'
        )
        if bar.label:
            parts.append(
                f'<text x="{i * step + step / 2:.1f}" y="{HEIGHT - 4}" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
    parts.append(
        f'<text class="max" x="2" y="11">{escape(_number(top))}{escape(unit)}</text></svg>'
    )
    return "".join(parts)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"
