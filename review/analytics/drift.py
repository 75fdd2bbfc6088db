"""The drift panels: the AI's category mix recently against before (population stability index)
and the mean confidence per week, read live; and the scheduled drift checks' stored results over
time (``drift_history``). Reads only: the checks run in review/monitoring/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Avg, Count, Max, Q
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from review.analytics.windows import Window
from review.models import DriftCheckResult
from review.monitoring import statistics
from review.monitoring.checks import CHECKS, CHECKS_BY_NAME
from triage.models import TriageDecision

# Population stability index above which the category mix is said to have drifted (the usual
# rule of thumb: < 0.1 stable, 0.1–0.2 moderate shift, > 0.2 significant shift).
PSI_DRIFT = 0.2


TOP_MOVERS = 5


@dataclass
class Mover:
    category_slug: str
    baseline_share: float
    recent_share: float
    contribution: float

    @property
    def change(self) -> float:
        return self.recent_share - self.baseline_share


@dataclass
class WeekConfidence:
    week: datetime
    decisions: int
    mean_confidence: float | None


@dataclass
class DriftPanel:
    has_baseline: bool
    baseline_count: int
    recent_count: int
    psi: float | None
    movers: list[Mover]
    weeks: list[WeekConfidence] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return self.psi is not None and self.psi > PSI_DRIFT


def population_stability_index(baseline: dict[str, int], recent: dict[str, int]) -> tuple[float | None, list[Mover]]:
    """The category mix's PSI and its movers (the rule lives in review/monitoring/statistics.py,
    which the scheduled drift checks use too). ``(None, [])`` when either side is empty."""
    psi, movers = statistics.population_stability_index(baseline, recent)
    return psi, [
        Mover(category_slug=mover.key, baseline_share=mover.reference_share, recent_share=mover.recent_share,
              contribution=mover.contribution)
        for mover in movers
    ]


def drift_panel(*, window: Window) -> DriftPanel:
    """The AI's category mix (final decisions) in the window's last ``RECENT_DAYS`` days against
    the part of the window before them, and the mean confidence per week."""
    finals = TriageDecision.objects.final().filter(created_at__gte=window.start, created_at__lt=window.end).exclude(category_slug="")
    recent_q = Q(created_at__gte=window.recent_start)
    by_category = (
        finals.values("category_slug")
        .annotate(
            recent=Count("pk", filter=recent_q),
            baseline=Count("pk", filter=~recent_q),
        )
        .order_by()
    )
    baseline: dict[str, int] = {}
    recent: dict[str, int] = {}
    for row in by_category:
        if row["baseline"]:
            baseline[row["category_slug"]] = row["baseline"]
        if row["recent"]:
            recent[row["category_slug"]] = row["recent"]
    psi, movers = population_stability_index(baseline, recent) if window.has_baseline else (None, [])
    weeks = [
        WeekConfidence(week=row["week"], decisions=row["decisions"], mean_confidence=row["mean_confidence"])
        for row in finals.annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(decisions=Count("pk"), mean_confidence=Avg("confidence"))
        .order_by("week")
    ]
    return DriftPanel(
        has_baseline=window.has_baseline,
        baseline_count=sum(baseline.values()),
        recent_count=sum(recent.values()),
        psi=psi,
        movers=[mover for mover in movers if mover.contribution > 0][:TOP_MOVERS],
        weeks=weeks,
    )


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
