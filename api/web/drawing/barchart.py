"""A horizontal bar chart of rates (0 to 1), one bar per labelled row, as SVG."""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from api.web.drawing.svgtext import frame, text_width

FONT = 13
ROW = 28
BAR_HEIGHT = 18
CHART = 320  # the width of a 100% bar


@dataclass(frozen=True)
class Bar:
    """One row of the chart: its label and its rate (None: nothing to divide, drawn as a dash)."""

    label: str
    rate: float | None


def percent(rate: float | None) -> str:
    """A rate as people read it: 87.5%, or a dash when there is none."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def bar_chart(bars: list[Bar], title: str) -> Markup:
    """The bars under one another, each labelled on the left with its value at its end."""
    left = max([text_width(b.label, FONT) for b in bars] + [40]) + 12
    width = left + CHART + 70
    height = ROW * max(len(bars), 1) + 24
    body = [f'<line x1="{left:.0f}" y1="4" x2="{left:.0f}" y2="{height - 20:.0f}" stroke="#666"/>']
    for tick in (0, 50, 100):
        x = left + CHART * tick / 100
        body.append(f'<text x="{x:.0f}" y="{height - 4:.0f}" font-size="11" text-anchor="middle" fill="#444">'
                    f'{tick}%</text>')
    for index, bar in enumerate(bars):
        y = 6 + index * ROW
        length = CHART * (bar.rate or 0)
        body.append(f'<g class="bar"><text x="{left - 8:.0f}" y="{y + BAR_HEIGHT - 4}" font-size="{FONT}" '
                    f'text-anchor="end" fill="#111">{escape(bar.label)}</text>'
                    f'<rect x="{left:.0f}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="#1f6f43"/>'
                    f'<text x="{left + length + 6:.1f}" y="{y + BAR_HEIGHT - 4}" font-size="{FONT}" fill="#111">'
                    f'{percent(bar.rate)}</text></g>')
    return frame(width, height, title, body, css_class="chart")
