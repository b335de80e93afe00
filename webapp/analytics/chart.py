"""The geometry of the views chart, drawn by templates/analytics/_chart.html as inline SVG.

The SVG is only the plot: it stretches to the page's width (preserveAspectRatio="none"), its lines and
dots keep their thickness whatever the stretch (vector-effect: non-scaling-stroke), and the labels
around it are HTML, so they stay legible on a phone. Colours come from the stylesheet's variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .stats import Day

COLUMN = 10  # viewBox units per day
HEIGHT = 100
# The share of a column left empty between bars: a week's seven bars would otherwise look like blocks.
GAP, WIDE_GAP, FEW_DAYS = 0.15, 0.4, 14
MOST_DOTS = 45  # beyond this many days the dots would touch; the line alone reads better


@dataclass(frozen=True)
class Column:
    day: Day
    x: float  # left edge of the day's column
    bar_x: float
    bar_y: float
    bar_width: float
    bar_height: float
    dot_x: float
    dot_y: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    column: int  # the width of one day's column
    columns: list[Column]
    top: int  # the value at the top of the plot
    gridlines: list[float]  # y of each faint line (a quarter of `top` apart)
    line: str  # path of the visitors line
    dots: str  # path of the visitors dots: zero-length segments, round caps
    empty: bool  # no view on any day


def nice_top(value: int) -> int:
    """The top of the scale: four equal steps of 1, 2 or 5 times a power of ten that reach `value`."""
    step = 1
    while step * 4 < value:
        for factor in (2, 2.5, 2):  # 1 -> 2 -> 5 -> 10 -> 20 ...
            step = int(step * factor)
            if step * 4 >= value:
                break
    return step * 4


def build(days: list[Day]) -> Chart:
    """The plot of `days`: a bar of views per day, and a line with dots for the day's visitors."""
    top = nice_top(max([d.views for d in days] + [d.visitors for d in days] + [1]))
    gap = WIDE_GAP if len(days) <= FEW_DAYS else GAP
    columns = [_column(n, day, top, gap) for n, day in enumerate(days)]
    line = " ".join(f"{'M' if n == 0 else 'L'}{c.dot_x:g} {c.dot_y:g}" for n, c in enumerate(columns))
    dots = "" if len(columns) > MOST_DOTS else " ".join(f"M{c.dot_x:g} {c.dot_y:g}h0" for c in columns)
    return Chart(width=COLUMN * len(days), height=HEIGHT, column=COLUMN, columns=columns, top=top,
                 gridlines=[HEIGHT * n / 4 for n in range(4)], line=line, dots=dots,
                 empty=not any(d.views for d in days))


def bars(points: list[tuple[date, int]]) -> Chart:
    """The plot of one figure per day as bars alone (the admin dashboard's charts): each column's
    `day.views` is the figure; the visitors line is left undrawn."""
    return build([Day(day, value, 0) for day, value in points])


def _column(n: int, day: Day, top: int, gap: float) -> Column:
    x = n * COLUMN
    bar_height = round(HEIGHT * day.views / top, 2)
    return Column(day=day, x=x, bar_x=x + COLUMN * gap / 2, bar_y=HEIGHT - bar_height, bar_width=COLUMN * (1 - gap),
                  bar_height=bar_height, dot_x=x + COLUMN / 2, dot_y=round(HEIGHT - HEIGHT * day.visitors / top, 2))
