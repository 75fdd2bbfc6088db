"""The dashboard's tables (per category, per agent, per reply path), read from the roll-ups.

Each table is a ``Table``: the page renders its formatted cells and ``/review/dashboard/<slug>.csv``
writes its raw values, so the screen and the export cannot disagree. A fixed number of queries
each: one grouped read of roll-up rows, one lookup of names (categories' thresholds, agents).
Definitions: docs/dashboard.md.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Sum

from review.analytics.charts import ratio, value_format
from review.analytics.trends import cost_per_resolved, trends_build
from review.analytics.windows import Window
from review.models import DailyRollup
from review.rollups import HANDLING_BUCKETS
from support.models import Category

Dim = DailyRollup.Dimension
Cell = str | int | float | Decimal | bool | None

SUMMED = (
    "tickets", "triaged", "auto_sent", "cost_usd", "decisions", "judged", "agreed", "overridden", "rejected", "approved",
    "edited", "handled", "handling_seconds", "audited", "audit_incorrect", "csat_good", "csat_bad",
    "answered", "resolved",
)


@dataclass(frozen=True)
class Column:
    label: str
    unit: str = "count"  # count, percent, usd, seconds, text, flag


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]]

    @property
    def display_rows(self) -> list[list[str]]:
        return [[_display(cell, column.unit) for cell, column in zip(row, self.columns, strict=True)] for row in self.rows]

    def csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([column.label for column in self.columns])
        for row in self.rows:
            writer.writerow(["" if cell is None else _raw(cell) for cell in row])
        return buffer.getvalue()


def _display(cell: Cell, unit: str) -> str:
    if unit == "text":
        return str(cell) if cell not in (None, "") else "—"
    if unit == "flag":
        return "Braked" if cell else "Running"
    if unit == "seconds":
        return "—" if cell is None else f"{float(cell):.0f} s"  # type: ignore[arg-type]
    if cell is None:
        return "—"
    return value_format(float(cell), unit)  # type: ignore[arg-type]


def _raw(cell: Cell) -> str:
    if isinstance(cell, float):
        return f"{cell:.6g}"
    if isinstance(cell, Decimal):
        return f"{cell:.6f}"
    return str(cell)


def _window_rows(window: Window, dimension: str) -> dict[str, dict[str, Any]]:
    grouped = (
        DailyRollup.objects.filter(
            dimension=dimension, hour=DailyRollup.WHOLE_DAY, day__gte=window.first_day, day__lte=window.last_day
        )
        .values("key")
        .annotate(**{name: Sum(name) for name in SUMMED})
        .order_by("key")
    )
    return {str(row["key"]): dict(row) for row in grouped}  # type: ignore[misc]  # the Sum annotations are numbers


def csat_score(good: float, bad: float) -> float | None:
    return ratio(good, good + bad)


def category_table(*, window: Window) -> Table:
    sums = _window_rows(window, Dim.CATEGORY)
    categories = {
        slug: (threshold, braked)
        for slug, threshold, braked in Category.objects.values_list("slug", "auto_threshold", "braked")
    }
    rows: list[list[Cell]] = []
    for slug in sorted(set(sums) | {slug for slug, (_t, braked) in categories.items() if braked}):
        row = sums.get(slug) or dict.fromkeys(SUMMED, 0)
        threshold, braked = categories.get(slug, (None, False))
        rows.append([
            slug or "(uncategorised)",
            int(row["tickets"]),
            ratio(row["auto_sent"], row["tickets"]),
            ratio(row["agreed"], row["judged"]),
            ratio(row["overridden"], row["judged"]),
            ratio(row["audit_incorrect"], row["audited"]),
            threshold,
            braked,
            csat_score(row["csat_good"], row["csat_bad"]),
            cost_per_resolved(cost_usd=Decimal(row["cost_usd"] or 0), handling_seconds=float(row["handling_seconds"] or 0),
                              resolved=int(row["resolved"])),
        ])
    rows.sort(key=lambda row: (-int(row[1] or 0), str(row[0])))  # type: ignore[call-overload]
    return Table(
        "categories", "Per category",
        [Column("Category", "text"), Column("Tickets"), Column("Automation share", "percent"),
         Column("Agreement", "percent"), Column("Override rate", "percent"), Column("Audited error", "percent"),
         Column("Threshold", "number"), Column("Automation", "flag"), Column("CSAT", "percent"),
         Column("Cost per resolved (USD)", "usd")],
        rows,
    )


def _median_from_histogram(counts: list[int]) -> float | None:
    """The upper bound of the bucket holding the median handling time (bucketed: medians of days
    do not add up, bucket counts do)."""
    total = sum(counts)
    if not total:
        return None
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen * 2 >= total:
            return HANDLING_BUCKETS[min(index, len(HANDLING_BUCKETS) - 1)]
    return HANDLING_BUCKETS[-1]


def agent_table(*, window: Window) -> Table:
    rows_by_agent: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(SUMMED, 0.0))
    histograms: dict[str, list[int]] = defaultdict(list)
    for row in DailyRollup.objects.filter(
        dimension=Dim.AGENT, hour=DailyRollup.WHOLE_DAY, day__gte=window.first_day, day__lte=window.last_day
    ).values("key", "handling_histogram", *SUMMED):
        totals = rows_by_agent[row["key"]]
        for name in SUMMED:
            totals[name] += float(row[name] or 0)
        merged = histograms[row["key"]]
        for index, count in enumerate(row["handling_histogram"] or []):
            if len(merged) <= index:
                merged.extend([0] * (index + 1 - len(merged)))
            merged[index] += int(count)
    ids = [int(key) for key in rows_by_agent if key.isdigit()]
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    rows: list[list[Cell]] = []
    for key, totals in rows_by_agent.items():
        decisions = int(totals["decisions"])
        rows.append([
            names.get(int(key), key) if key.isdigit() else key,
            decisions,
            _median_from_histogram(histograms[key]),
            ratio(totals["edited"], totals["approved"]),
            ratio(totals["rejected"], decisions),
            csat_score(totals["csat_good"], totals["csat_bad"]),
        ])
    rows.sort(key=lambda row: (-int(row[1] or 0), str(row[0])))  # type: ignore[call-overload]
    return Table(
        "agents", "Per agent",
        [Column("Agent", "text"), Column("Decisions"), Column("Median handling time (≤)", "seconds"),
         Column("Edit rate", "percent"), Column("Reject rate", "percent"), Column("CSAT of their replies", "percent")],
        rows,
    )


def path_table(*, window: Window) -> Table:
    """Auto-sent vs human-approved replies: cost per resolved ticket and CSAT, plus the overall row."""
    sums = _window_rows(window, Dim.PATH)
    labels = {"auto": "Auto-sent", "human": "Human-approved"}
    rows: list[list[Cell]] = []
    overall = dict.fromkeys(SUMMED, 0.0)
    for key in ("auto", "human"):
        row = sums.get(key) or dict.fromkeys(SUMMED, 0)
        for name in SUMMED:
            overall[name] += float(row[name] or 0)
        rows.append(_path_row(labels[key], row))
    rows.append(_path_row("All replies", overall))
    return Table(
        "paths", "By reply path",
        [Column("Path", "text"), Column("Answered"), Column("Resolved"), Column("LLM cost (USD)", "usd"),
         Column("Human time (h)", "number"), Column("Cost per resolved (USD)", "usd"), Column("CSAT", "percent"),
         Column("Ratings")],
        rows,
    )


def _path_row(label: str, row: dict[str, float]) -> list[Cell]:
    cost = Decimal(str(row["cost_usd"] or 0))
    handling = float(row["handling_seconds"] or 0)
    return [
        label,
        int(row["answered"]),
        int(row["resolved"]),
        cost,
        round(handling / 3600, 2),
        cost_per_resolved(cost_usd=cost, handling_seconds=handling, resolved=int(row["resolved"])),
        csat_score(row["csat_good"], row["csat_bad"]),
        int(row["csat_good"] + row["csat_bad"]),
    ]




def trends_table(*, window: Window) -> Table:
    """Every trend chart's daily numbers side by side (one row per day)."""
    trends = trends_build(window=window)
    columns = [Column("Day", "text")]
    for chart in trends.charts:
        columns += [Column(f"{chart.title}: {series.label}", chart.unit) for series in chart.series]
        if chart.band_lower is not None:
            columns += [Column(f"{chart.title}: lower bound", chart.unit), Column(f"{chart.title}: upper bound", chart.unit)]
    rows: list[list[Cell]] = []
    for index, day in enumerate(trends.days):
        row: list[Cell] = [day.isoformat()]
        for chart in trends.charts:
            row += [series.values[index] for series in chart.series]
            if chart.band_lower is not None and chart.band_upper is not None:
                row += [chart.band_lower[index], chart.band_upper[index]]
        rows.append(row)
    return Table("trends", "Trends", columns, rows)


TABLES = {"categories": category_table, "agents": agent_table, "paths": path_table, "trends": trends_table}
