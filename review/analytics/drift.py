"""The drift panel: the scheduled drift checks' stored results over time (``drift_history``).
Reads only: the checks (category mix by PSI and chi-square, confidence by Kolmogorov-Smirnov, and
the rest of docs/drift.md) run in review/monitoring/. The live category-mix PSI and weekly mean
confidence this panel once computed over raw decisions at every page view are now two of those
checks, read from their stored results, so the page no longer grows with history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from review.models import DriftCheckResult
from review.monitoring.checks import CHECKS, CHECKS_BY_NAME

# --- The scheduled checks over time (templates/review/partials/_drift_panel.html) ---------------

CHART_WIDTH = 600
CHART_HEIGHT = 120
CHART_PAD = 8


@dataclass
class DriftDay:
    day: date
    runs: int
    statistic: float | None  # the day's largest statistic (the run closest to breaching)
    threshold: float
    breaches: int
    x: float = 0.0
    y: float | None = None


@dataclass
class DriftSeries:
    """One check's daily history, with its SVG coordinates already computed (no JS on the page)."""

    check_name: str
    label: str
    test: str
    days: list[DriftDay]
    y_min: float = 0.0
    y_max: float = 1.0
    threshold_y: float = 0.0
    polyline: str = ""

    @property
    def latest(self) -> DriftDay | None:
        return self.days[-1] if self.days else None

    @property
    def breached_days(self) -> list[DriftDay]:
        return [day for day in self.days if day.breaches]


@dataclass
class DriftHistory:
    days: int
    series: list[DriftSeries]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def _layout(series: DriftSeries) -> None:
    measured = [day.statistic for day in series.days if day.statistic is not None]
    threshold = series.days[-1].threshold if series.days else 0.0
    series.y_min = min([0.0, *measured])
    series.y_max = max([threshold * 1.25, *measured]) or 1.0
    span = (series.y_max - series.y_min) or 1.0
    inner_w = CHART_WIDTH - 2 * CHART_PAD
    inner_h = CHART_HEIGHT - 2 * CHART_PAD

    def y_of(value: float) -> float:
        return round(CHART_PAD + inner_h * (1 - (value - series.y_min) / span), 1)

    count = len(series.days)
    for index, day in enumerate(series.days):
        day.x = round(CHART_PAD + (inner_w * index / (count - 1) if count > 1 else inner_w / 2), 1)
        day.y = None if day.statistic is None else y_of(day.statistic)
    series.threshold_y = y_of(threshold)
    series.polyline = " ".join(f"{day.x},{day.y}" for day in series.days if day.y is not None)


def drift_history(*, days: int, now: datetime | None = None) -> DriftHistory:
    """Every stored drift check result of the last ``days`` days, one point per check and UTC day
    (the day's largest statistic, its threshold, how many runs breached). One query, at most
    checks × days rows whatever the number of runs."""
    end = now or timezone.now()
    rows = (
        DriftCheckResult.objects.filter(run_at__gte=end - timedelta(days=days), run_at__lt=end)
        .annotate(day=TruncDate("run_at", tzinfo=UTC))
        .values("check_name", "day")
        .annotate(
            runs=Count("pk"),
            statistic=Max("statistic"),
            threshold=Max("threshold"),
            breaches=Count("pk", filter=Q(breached=True)),
            test=Max("test"),
        )
        .order_by("check_name", "day")
    )
    by_check: dict[str, DriftSeries] = {}
    for row in rows:
        name = row["check_name"]
        check = CHECKS_BY_NAME.get(name)
        series = by_check.setdefault(
            name, DriftSeries(check_name=name, label=check.label if check else name, test=row["test"], days=[])
        )
        series.days.append(DriftDay(day=row["day"], runs=row["runs"], statistic=row["statistic"],
                                    threshold=row["threshold"], breaches=row["breaches"]))
    order = {check.name: index for index, check in enumerate(CHECKS)}
    series_list = sorted(by_check.values(), key=lambda series: (order.get(series.check_name, len(order)), series.check_name))
    for series in series_list:
        _layout(series)
    return DriftHistory(days=days, series=series_list)
