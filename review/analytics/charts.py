"""Server-rendered SVG line charts: Python computes the geometry, the template draws it.

No JavaScript and no inline style (the CSP is ``script-src 'self'; style-src 'self'``): colours
come from classes in static/css/dashboard.css. Every chart carries its numbers as a table
(``Chart.table_rows``) for screen readers and for anyone who wants the exact figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 56
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 28
Y_TICKS = 4
MAX_X_LABELS = 8


def value_format(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "usd":
        return f"{value:.4f}"
    if unit == "ms":
        return f"{value:.0f}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


@dataclass
class Series:
    label: str
    values: Sequence[float | None]
    css_class: str = "s0"
    # One "x,y x,y ..." per unbroken run of values (a missing day breaks the line); a run of one
    # point would draw nothing, so it becomes a dot.
    segments: list[str] = field(default_factory=list)
    dots: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Tick:
    position: str
    label: str


@dataclass
class Chart:
    chart_id: str
    title: str
    unit: str
    labels: list[str]
    series: list[Series]
    note: str = ""
    # Optional confidence band (lower, upper per point), drawn behind the first series.
    band_lower: list[float | None] | None = None
    band_upper: list[float | None] | None = None
    band_polygons: list[str] = field(default_factory=list)
    # (x, y of the lower bound, y of the upper bound): an error bar per point, visible even alone.
    band_bars: list[tuple[str, str, str]] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def plot_left(self) -> int:
        return PAD_LEFT

    @property
    def plot_right(self) -> int:
        return self.width - PAD_RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - PAD_BOTTOM

    @property
    def has_data(self) -> bool:
        return any(value is not None for series in self.series for value in series.values)

    @property
    def table_headers(self) -> list[str]:
        headers = ["Day", *[series.label for series in self.series]]
        if self.band_lower is not None:
            headers += ["Lower bound", "Upper bound"]
        return headers

    @property
    def table_rows(self) -> list[list[str]]:
        rows = []
        for index, label in enumerate(self.labels):
            row = [label, *[value_format(series.values[index], self.unit) for series in self.series]]
            if self.band_lower is not None and self.band_upper is not None:
                row += [value_format(self.band_lower[index], self.unit), value_format(self.band_upper[index], self.unit)]
            rows.append(row)
        return rows

    def layout(self) -> Chart:
        """Compute the SVG geometry in place; returns self."""
        points = len(self.labels)
        every = [v for series in self.series for v in series.values if v is not None]
        every += [v for v in (self.band_upper or []) if v is not None]
        top = _nice_ceiling(max(every, default=0.0))
        if self.unit == "percent":
            top = min(top, 1.0) if every and max(every) <= 1.0 else top
        plot_width = self.plot_right - self.plot_left
        plot_height = self.plot_bottom - PAD_TOP

        def x_of(index: int) -> float:
            return self.plot_left + (plot_width * index / (points - 1) if points > 1 else plot_width / 2)

        def y_of(value: float) -> float:
            return self.plot_bottom - plot_height * (value / top)

        for number, series in enumerate(self.series):
            series.css_class = f"s{number % 6}"
            run: list[tuple[str, str]] = []
            for index, value in [*enumerate(series.values), (points, None)]:
                if value is None:
                    if len(run) == 1:
                        series.dots.append(run[0])
                    elif run:
                        series.segments.append(" ".join(f"{x},{y}" for x, y in run))
                    run = []
                    continue
                run.append((f"{x_of(index):.1f}", f"{y_of(value):.1f}"))
        if self.band_lower is not None and self.band_upper is not None:
            run_low: list[str] = []
            run_high: list[str] = []
            for index, (low, high) in enumerate(zip(self.band_lower, self.band_upper, strict=True)):
                if low is None or high is None:
                    self._close_band(run_low, run_high)
                    run_low, run_high = [], []
                    continue
                self.band_bars.append((f"{x_of(index):.1f}", f"{y_of(low):.1f}", f"{y_of(high):.1f}"))
                run_low.append(f"{round(x_of(index), 1)},{round(y_of(low), 1)}")
                run_high.append(f"{round(x_of(index), 1)},{round(y_of(high), 1)}")
            self._close_band(run_low, run_high)
        self.y_ticks = [
            Tick(position=f"{y_of(top * step / Y_TICKS):.1f}", label=value_format(top * step / Y_TICKS, self.unit))
            for step in range(Y_TICKS + 1)
        ]
        stride = max(1, math.ceil(points / MAX_X_LABELS))
        self.x_ticks = [Tick(position=f"{x_of(i):.1f}", label=self.labels[i]) for i in range(0, points, stride)]
        return self

    def _close_band(self, low: list[str], high: list[str]) -> None:
        if len(low) > 1:
            self.band_polygons.append(" ".join(low + list(reversed(high))))


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def ratios(parts: Sequence[float], wholes: Sequence[float]) -> list[float | None]:
    return [ratio(part, whole) for part, whole in zip(parts, wholes, strict=True)]
