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

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from statistics import median

from django.db.models import Count, Exists, F, OuterRef, Q, Sum

from review.analytics.drift import DriftPanel, drift_panel
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
from review.models import AuditSample, ReviewOutcome
from support.models import Alert, Category, OutboundMessage, Ticket
from support.reasons import reason_label
from triage.models import TriageDecision

TOP_REASONS = 8


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


def volume_panel(*, window: Window) -> VolumePanel:
    """Tickets created in the window; auto-replied = an automatic reply to the customer exists
    (team notifications are also ``auto_submitted`` and do not count); sent for review = the
    final decision said a human must look."""
    auto_reply = OutboundMessage.objects.filter(ticket=OuterRef("pk"), auto_submitted=True).exclude(
        kind=OutboundMessage.Kind.NOTIFICATION
    )
    final = TriageDecision.objects.final().filter(ticket=OuterRef("pk"))
    counts = Ticket.objects.filter(created_at__gte=window.start, created_at__lt=window.end).aggregate(
        tickets=Count("pk"),
        triaged=Count("pk", filter=Exists(final)),
        auto_replied=Count("pk", filter=Exists(auto_reply)),
        for_review=Count("pk", filter=Exists(final.filter(needs_review=True))),
    )
    # Reasons are a JSON list per decision; counting them in Python keeps this portable
    # (PostgreSQL and SQLite) at one query of small rows.
    reason_lists = TriageDecision.objects.final().filter(
        needs_review=True,
        ticket__created_at__gte=window.start,
        ticket__created_at__lt=window.end,
    ).values_list("review_reasons", flat=True)
    tally: Counter[str] = Counter()
    for reasons in reason_lists:
        tally.update(str(code) for code in reasons or [])
    for_review = counts["for_review"] or 0
    return VolumePanel(
        tickets=counts["tickets"] or 0,
        triaged=counts["triaged"] or 0,
        auto_replied=counts["auto_replied"] or 0,
        for_review=for_review,
        reasons=[
            ReasonCount(
                code=code,
                label=reason_label(code),
                count=count,
                share=share(count, for_review),
            )
            for code, count in tally.most_common(TOP_REASONS)
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


def quality_panel(*, window: Window) -> QualityPanel:
    """Reviewer verdicts decided in the window and audit grades given in it.

    A ticket counts once, by its latest decisive outcome (as ``calibrate_thresholds`` reads the
    evidence): a correction followed by an approval is one disagreement, not two."""
    later_verdict = ReviewOutcome.objects.filter(
        ticket=OuterRef("ticket"), verdict__in=DECISIVE_VERDICTS, pk__gt=OuterRef("pk")
    )
    outcomes = (
        ReviewOutcome.objects.filter(
            decided_at__gte=window.start, decided_at__lt=window.end, verdict__in=DECISIVE_VERDICTS
        )
        .exclude(ai_category_slug="")
        .exclude(Exists(later_verdict))
    )
    reasons = ReviewOutcome.Reason
    aggregates = outcomes.aggregate(
        judged=Count("pk"),
        agreed=Count("pk", filter=Q(final_category_slug=F("ai_category_slug"))),
        rejected=Count("pk", filter=Q(verdict=ReviewOutcome.Decision.REJECTED)),
        **{
            f"reject_{code}": Count("pk", filter=Q(verdict=ReviewOutcome.Decision.REJECTED, reason_code=code))
            for code in [*reasons.values, ""]
        },
    )
    judged = aggregates["judged"] or 0
    labels = dict(reasons.choices) | {"": "No reason given"}
    rejects = [
        RejectReason(code=code, label=labels[code], count=count, rate=share(count, judged))
        for code in [*reasons.values, ""]
        if (count := aggregates[f"reject_{code}"] or 0)
    ]
    rejects.sort(key=lambda row: (-row.count, row.code))
    edit_distances = [
        float(distance)
        for distance in outcomes.filter(verdict=ReviewOutcome.Decision.APPROVED, edit_distance__isnull=False)
        .order_by("-decided_at")
        .values_list("edit_distance", flat=True)[:SAMPLE_LIMIT]
        if distance is not None
    ]
    braked = Category.objects.filter(slug=OuterRef("category_slug"), braked=True)
    audit_rows = (
        AuditSample.objects.filter(graded_at__gte=window.start, graded_at__lt=window.end)
        .exclude(grade="")
        .annotate(braked=Exists(braked))
        .values("category_slug", "braked")
        .annotate(
            graded=Count("pk"),
            incorrect=Count("pk", filter=Q(grade=AuditSample.Grade.INCORRECT)),
        )
        .order_by("category_slug")
    )
    audits = [
        AuditRow(
            category_slug=row["category_slug"],
            graded=row["graded"],
            incorrect=row["incorrect"],
            braked=bool(row["braked"]),
        )
        for row in audit_rows
    ]
    # Worst first: a manager reads the top rows.
    audits.sort(key=lambda row: (-(row.error or 0), -row.graded, row.category_slug))
    audited = {row.category_slug for row in audits}
    braked_slugs = Category.objects.filter(braked=True).order_by("slug").values_list("slug", flat=True)
    return QualityPanel(
        judged=judged,
        agreed=aggregates["agreed"] or 0,
        rejected=aggregates["rejected"] or 0,
        rejects=rejects,
        approved_edits=len(edit_distances),
        median_edit_distance=median(edit_distances) if edit_distances else None,
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
    attempts = TriageDecision.objects.filter(created_at__gte=window.start, created_at__lt=window.end)
    grouped = (
        attempts.values("provider", "model", "prompt_version")
        .annotate(
            attempts=Count("pk"),
            finals=Count("pk", filter=Q(is_final=True)),
            cost=Sum("cost_usd"),
            tokens_in_sum=Sum("tokens_in"),
            tokens_out_sum=Sum("tokens_out"),
            cache_hits=Count("pk", filter=Q(cache_hit=True)),
        )
        .order_by("provider", "model", "prompt_version")
    )
    rows = [
        CostRow(
            provider=row["provider"],
            model=row["model"],
            prompt_version=row["prompt_version"],
            attempts=row["attempts"],
            finals=row["finals"],
            cost_usd=Decimal(row["cost"] or 0),
            tokens_in=row["tokens_in_sum"] or 0,
            tokens_out=row["tokens_out_sum"] or 0,
            cache_hits=row["cache_hits"],
        )
        for row in grouped
    ]
    latencies = list(
        attempts.order_by("-created_at", "-pk").values_list("provider", "model", "prompt_version", "latency_ms")[
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
    drift: DriftPanel
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
        drift=drift_panel(window=window),
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
