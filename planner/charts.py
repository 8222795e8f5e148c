"""Inline SVG charts for the published status page and the preview report.

The numbers and positions are computed here and drawn by the templates as plain SVG: the
pages load no script or font from anywhere (the status page is a static file on a CDN, the
preview a file opened from disk), and a test can read every value back from the markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 160
LEFT = 56  # room for the axis values
TOP = 12  # room for the top value
BOTTOM = 34  # room for the epoch labels
LABEL_WIDTH = 44  # an "HH:MM" label, so labels never overlap


@dataclass(frozen=True)
class Tick:
    value: int
    y: float

    @property
    def label(self) -> str:
        return f"{self.value:,}"


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: nothing to show yet (a sealed epoch)
    x: float
    width: float
    y: float
    height: float
    note: str = ""
    labelled: bool = True


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[Tick]
    top: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top_margin: int = TOP
    bottom: int = BOTTOM

    def y(self, value: float) -> float:
        return round(self.height - self.height * value / self.top, 1)


def nice_top(maximum: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `maximum`."""
    if maximum <= 0:
        return 1
    power = 10 ** math.floor(math.log10(maximum))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= maximum))


def column_chart(
    labels: Sequence[str],
    values: Sequence[int | None],
    notes: Sequence[str] | None = None,
    floor: float = 0,
    label_width: int = LABEL_WIDTH,
) -> Chart:
    """One column per label, a value axis with four steps from 0 to a round top."""
    top = nice_top(max([floor, *(v for v in values if v is not None)]))
    step = (WIDTH - LEFT) / max(len(labels), 1)
    every = max(1, math.ceil(label_width / step))
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = 0.0 if value is None else round(HEIGHT * value / top, 1)
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(LEFT + step * i + step * 0.1, 2),
                width=round(max(step * 0.8, 0.5), 2),
                y=round(HEIGHT - height, 1),
                height=height,
                note=notes[i] if notes else "",
                labelled=i % every == 0,
            )
        )
    ticks = [Tick(top * k // 4, round(HEIGHT - HEIGHT * k / 4, 1)) for k in range(5)]
    return Chart(bars=bars, ticks=ticks, top=top)
