"""The drift panel: the AI's category mix recently against before (population stability index)
and the mean confidence per week."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncWeek

from review.analytics.windows import Window
from triage.models import TriageDecision

# Population stability index above which the category mix is said to have drifted (the usual
# rule of thumb: < 0.1 stable, 0.1–0.2 moderate shift, > 0.2 significant shift).
PSI_DRIFT = 0.2


# A category absent from one side would make PSI infinite; give it this share instead.
PSI_FLOOR = 0.0001


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
    """PSI = Σ (recent − baseline) · ln(recent / baseline) over category shares, each share
    floored at ``PSI_FLOOR`` so a category new in one period counts heavily but finitely.
    Returns ``(None, [])`` when either side has no decisions."""
    baseline_total = sum(baseline.values())
    recent_total = sum(recent.values())
    if not baseline_total or not recent_total:
        return None, []
    movers = []
    for slug in sorted(set(baseline) | set(recent)):
        expected = max(baseline.get(slug, 0) / baseline_total, PSI_FLOOR)
        actual = max(recent.get(slug, 0) / recent_total, PSI_FLOOR)
        movers.append(
            Mover(
                category_slug=slug,
                baseline_share=baseline.get(slug, 0) / baseline_total,
                recent_share=recent.get(slug, 0) / recent_total,
                contribution=(actual - expected) * math.log(actual / expected),
            )
        )
    psi = sum(mover.contribution for mover in movers)
    movers.sort(key=lambda mover: (-mover.contribution, mover.category_slug))
    return psi, movers


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
