"""Reads for the manager quality dashboard (``/review/dashboard/``).

Pure reads over the records the system already keeps: tickets and their outbox, the final
``TriageDecision`` of each triaged ticket, reviewers' ``ReviewOutcome`` rows, graded
``AuditSample`` rows and open ``Alert`` rows. Every panel costs a fixed number of queries (one
aggregate, sometimes one list of values for a percentile): the count does not grow with the
number of categories, providers, weeks or days in the window (tests/review/test_dashboard.py).
Trends and the per-category, per-agent and per-path tables read the daily roll-ups
(``review.rollups`` writes them), so they read a bounded number of rows whatever the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from review.analytics.tables import TABLES, Table, agent_table, category_table, path_table
from review.analytics.trends import Trends, trends_build
from review.analytics.windows import (
    SAMPLE_LIMIT,
    WINDOW_DAYS_DEFAULT,
    Window,
    percentile,
    share,
    window_for,
)
from review.models import DailyRollup, ReviewOutcome
from review.rollups import EDIT_BUCKET
from support.models import Alert, Category
from support.reasons import reason_label
from triage.models import TriageDecision

TOP_REASONS = 8

Dim = DailyRollup.Dimension


OPEN_ALERTS_LIMIT = 50


# Verdicts that judge the AI's output; snoozes and escalations are no verdict.
DECISIVE_VERDICTS = (
    ReviewOutcome.Decision.APPROVED,
    ReviewOutcome.Decision.REJECTED,
    ReviewOutcome.Decision.OVERRIDDEN,
)


@dataclass
class ReasonCount:
    code: str
    label: str
    count: int
    share: float | None


@dataclass
class VolumePanel:
    tickets: int
    triaged: int
    auto_replied: int
    for_review: int
    reasons: list[ReasonCount]

    @property
    def auto_replied_share(self) -> float | None:
        return share(self.auto_replied, self.tickets)

    @property
    def for_review_share(self) -> float | None:
        return share(self.for_review, self.tickets)


def _window_rollups(window: Window, dimension: str) -> QuerySet[DailyRollup]:
    return DailyRollup.objects.filter(
        dimension=dimension, hour=DailyRollup.WHOLE_DAY, day__gte=window.first_day, day__lte=window.last_day
    )


def volume_panel(*, window: Window) -> VolumePanel:
    """Tickets created on the window's days; auto-replied = automatic replies to customers sent
    (team notifications excluded); sent for review = final decisions saying a human must look.
    Two queries over the roll-ups (``review.rollups``)."""
    counts = _window_rollups(window, Dim.TOTAL).aggregate(
        tickets=Sum("tickets"), triaged=Sum("triaged"), auto_replied=Sum("auto_sent"), for_review=Sum("for_review")
    )
    tally = (
        _window_rollups(window, Dim.REASON)
        .values("key")
        .annotate(count=Sum("for_review"))
        .order_by("-count", "key")[:TOP_REASONS]
    )
    for_review = counts["for_review"] or 0
    return VolumePanel(
        tickets=counts["tickets"] or 0,
        triaged=counts["triaged"] or 0,
        auto_replied=counts["auto_replied"] or 0,
        for_review=for_review,
        reasons=[
            ReasonCount(code=row["key"], label=reason_label(row["key"]), count=row["count"],
                        share=share(row["count"], for_review))
            for row in tally
        ],
    )


@dataclass
class RejectReason:
    code: str
    label: str
    count: int
    rate: float | None


@dataclass
class AuditRow:
    category_slug: str
    graded: int
    incorrect: int
    braked: bool

    @property
    def error(self) -> float | None:
        return share(self.incorrect, self.graded)


@dataclass
class QualityPanel:
    judged: int
    agreed: int
    rejected: int
    rejects: list[RejectReason]
    approved_edits: int
    median_edit_distance: float | None
    audits: list[AuditRow]
    braked_without_audits: list[str]

    @property
    def agreement(self) -> float | None:
        return share(self.agreed, self.judged)

    @property
    def reject_rate(self) -> float | None:
        return share(self.rejected, self.judged)


def _median_from_counts(counts: list[int], step: float) -> float | None:
    """The median of values counted per ``step`` (``counts[i]`` values equal to ``i * step``)."""
    total = sum(counts)
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # the middle one or two, 0-based
    found: list[float] = []
    seen = 0
    for index, count in enumerate(counts):
        while wanted and wanted[0] < seen + count:
            found.append(index * step)
            wanted.pop(0)
        seen += count
    return sum(found) / len(found)


def quality_panel(*, window: Window) -> QualityPanel:
    """Reviewer verdicts decided on the window's days and audit grades given on them.

    A ticket counts once, by its latest decisive outcome (as ``calibrate_thresholds`` reads the
    evidence): a correction followed by an approval is one disagreement, not two. Edit distances
    are counted to 0.01 (``EDIT_BUCKET``), the precision the page shows."""
    totals = _window_rollups(window, Dim.TOTAL)
    aggregates = totals.aggregate(judged=Sum("judged"), agreed=Sum("agreed"), rejected=Sum("rejected"))
    judged = aggregates["judged"] or 0
    labels = dict(ReviewOutcome.Reason.choices) | {"": "No reason given"}
    rejects = [
        RejectReason(code=row["key"], label=labels.get(row["key"], row["key"]), count=row["count"],
                     rate=share(row["count"], judged))
        for row in _window_rollups(window, Dim.REJECT_REASON).values("key").annotate(count=Sum("rejected"))
        if row["count"]
    ]
    rejects.sort(key=lambda row: (-row.count, row.code))
    edits: list[int] = []
    for histogram in totals.values_list("edit_histogram", flat=True):
        for index, count in enumerate(histogram or []):
            if len(edits) <= index:
                edits.extend([0] * (index + 1 - len(edits)))
            edits[index] += int(count)
    braked_slugs = list(Category.objects.filter(braked=True).order_by("slug").values_list("slug", flat=True))
    audits = [
        AuditRow(category_slug=row["key"], graded=row["graded"], incorrect=row["incorrect"],
                 braked=row["key"] in braked_slugs)
        for row in _window_rollups(window, Dim.CATEGORY)
        .values("key")
        .annotate(graded=Sum("audited"), incorrect=Sum("audit_incorrect"))
        .filter(graded__gt=0)
    ]
    # Worst first: a manager reads the top rows.
    audits.sort(key=lambda row: (-(row.error or 0), -row.graded, row.category_slug))
    audited = {row.category_slug for row in audits}
    return QualityPanel(
        judged=judged,
        agreed=aggregates["agreed"] or 0,
        rejected=aggregates["rejected"] or 0,
        rejects=rejects,
        approved_edits=sum(edits),
        median_edit_distance=_median_from_counts(edits, EDIT_BUCKET),
        audits=audits,
        braked_without_audits=[slug for slug in braked_slugs if slug not in audited],
    )


@dataclass
class CostRow:
    provider: str
    model: str
    prompt_version: str
    attempts: int
    finals: int
    cost_usd: Decimal
    tokens_in: int
    tokens_out: int
    cache_hits: int
    latency_p50: float | None = None
    latency_p95: float | None = None

    @property
    def cache_hit_rate(self) -> float | None:
        return share(self.cache_hits, self.attempts)

    @property
    def cost_per_ticket(self) -> Decimal | None:
        return self.cost_usd / self.finals if self.finals else None


@dataclass
class CostPanel:
    total: CostRow
    rows: list[CostRow]
    latency_sampled: int


def cost_panel(*, window: Window) -> CostPanel:
    """Every triage attempt in the window costs money, so cost and tokens sum all attempts
    (retries and fallbacks included); per ticket divides by the final decisions (one per triaged
    ticket). Latency percentiles are over the newest ``SAMPLE_LIMIT`` attempts."""
    grouped = (
        _window_rollups(window, Dim.MODEL)
        .values("key")
        .annotate(
            attempts=Sum("attempts"),
            finals=Sum("triaged"),
            cost=Sum("cost_usd"),
            tokens_in_sum=Sum("tokens_in"),
            tokens_out_sum=Sum("tokens_out"),
            cache_hits=Sum("cache_hits"),
        )
        .order_by("key")
    )
    rows = []
    for group in grouped:
        provider, model, prompt_version = ([*group["key"].split("|", 2), "", ""])[:3]
        rows.append(CostRow(
            provider=provider,
            model=model,
            prompt_version=prompt_version,
            attempts=group["attempts"] or 0,
            finals=group["finals"] or 0,
            cost_usd=Decimal(group["cost"] or 0),
            tokens_in=group["tokens_in_sum"] or 0,
            tokens_out=group["tokens_out_sum"] or 0,
            cache_hits=group["cache_hits"] or 0,
        ))
    attempts = TriageDecision.objects.filter(created_at__gte=window.start, created_at__lt=window.end)
    latencies = list(
        # Newest first by the created_at index alone (no tie-break): at a million rows a second sort
        # key would sort the whole window before the LIMIT.
        attempts.order_by("-created_at").values_list("provider", "model", "prompt_version", "latency_ms")[
            :SAMPLE_LIMIT
        ]
    )
    by_key: dict[tuple[str, str, str], list[float]] = {}
    for provider, model, prompt_version, latency_ms in latencies:
        by_key.setdefault((provider, model, prompt_version), []).append(float(latency_ms))
    for row in rows:
        values = by_key.get((row.provider, row.model, row.prompt_version), [])
        row.latency_p50 = percentile(values, 0.50)
        row.latency_p95 = percentile(values, 0.95)
    every = [float(latency_ms) for *_key, latency_ms in latencies]
    total = CostRow(
        provider="All",
        model="",
        prompt_version="",
        attempts=sum(row.attempts for row in rows),
        finals=sum(row.finals for row in rows),
        cost_usd=sum((row.cost_usd for row in rows), Decimal(0)),
        tokens_in=sum(row.tokens_in for row in rows),
        tokens_out=sum(row.tokens_out for row in rows),
        cache_hits=sum(row.cache_hits for row in rows),
        latency_p50=percentile(every, 0.50),
        latency_p95=percentile(every, 0.95),
    )
    return CostPanel(total=total, rows=rows, latency_sampled=len(latencies))


def open_alerts(*, limit: int = OPEN_ALERTS_LIMIT) -> list[Alert]:
    """Alerts nobody acknowledged yet, newest first (whatever the window: open is open)."""
    return list(Alert.objects.filter(acknowledged_by__isnull=True).order_by("-created_at", "-pk")[:limit])


@dataclass
class Dashboard:
    window: Window
    volume: VolumePanel
    quality: QualityPanel
    cost: CostPanel
    alerts: list[Alert]
    trends: Trends
    categories: Table
    agents: Table
    paths: Table


def dashboard_build(*, days: int = WINDOW_DAYS_DEFAULT, now: datetime | None = None) -> Dashboard:
    window = window_for(days=days, now=now)
    return Dashboard(
        window=window,
        volume=volume_panel(window=window),
        quality=quality_panel(window=window),
        cost=cost_panel(window=window),
        alerts=open_alerts(),
        trends=trends_build(window=window),
        categories=category_table(window=window),
        agents=agent_table(window=window),
        paths=path_table(window=window),
    )


def dashboard_table(*, slug: str, days: int = WINDOW_DAYS_DEFAULT, now: datetime | None = None) -> Table | None:
    """One table of the dashboard (for its CSV export); ``None`` for an unknown slug."""
    build = TABLES.get(slug)
    return build(window=window_for(days=days, now=now)) if build else None
