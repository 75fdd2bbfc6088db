"""The dashboard's daily (and, for today, hourly) roll-ups: the one writer of ``DailyRollup``.

A day is recomputed from the raw rows (tickets, triage attempts, review outcomes, audits, CSAT
ratings, replies) in a fixed number of grouped queries and its rows replaced in one transaction, so
running it twice is harmless. The beat job (``rollups_refresh``) recomputes today and yesterday,
and the day whose 7-day reopen window has just closed (its "resolved" count is final only then);
older days are frozen. ``rollup_backfill`` (command ``rollup_backfill --days N``) fills history.

The contract: this module writes and never imports ``review.analytics``; the dashboard reads only
the rows written here. Definitions of every figure: docs/dashboard.md.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import ExtractHour
from django.utils import timezone

from review.models import AuditSample, DailyRollup, ReviewOutcome
from support.models import CsatRating, OutboundMessage, Ticket, TicketEvent
from triage.models import TriageDecision

# Upper bounds (seconds) of the handling-time histogram buckets; the last bucket is open.
HANDLING_BUCKETS: tuple[float, ...] = (15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)

# Approved drafts' edit distances (normalised 0..1) are counted rounded to this step, the
# precision the dashboard shows them with.
EDIT_BUCKET = 0.01

# A ticket answered and not reopened within this many days counts as resolved.
REOPEN_DAYS = 7

# Latency percentiles of a day are computed over at most this many of its attempts.
LATENCY_SAMPLE = 50_000

TIMEOUT_ERRORS = ("APITimeoutError",)
RATE_LIMIT_ERRORS = ("RateLimitError",)
VALIDATION_ERRORS = ("OutputInvalid", "MalformedResponse")

DECISIVE = (
    ReviewOutcome.Decision.APPROVED,
    ReviewOutcome.Decision.REJECTED,
    ReviewOutcome.Decision.OVERRIDDEN,
)

Dim = DailyRollup.Dimension
SliceKey = tuple[int, str, str]  # (hour, dimension, key)


@dataclass
class _Slice:
    tickets: int = 0
    triaged: int = 0
    auto_sent: int = 0
    for_review: int = 0
    attempts: int = 0
    cost_usd: Decimal = Decimal(0)
    errors_timeout: int = 0
    errors_rate_limit: int = 0
    errors_validation: int = 0
    fallbacks: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cache_hits: int = 0
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    decisions: int = 0
    judged: int = 0
    agreed: int = 0
    overridden: int = 0
    rejected: int = 0
    approved: int = 0
    edited: int = 0
    edit_histogram: list[int] = field(default_factory=list)
    handled: int = 0
    handling_seconds: float = 0.0
    handling_histogram: list[int] = field(default_factory=list)
    audited: int = 0
    audit_incorrect: int = 0
    csat_good: int = 0
    csat_bad: int = 0
    sla_due: int = 0
    sla_met: int = 0
    backlog: int = 0
    answered: int = 0
    resolved: int = 0


SLICE_FIELDS = [f.name for f in fields(_Slice)]


def handling_bucket(seconds: float) -> int:
    return bisect.bisect_left(HANDLING_BUCKETS, seconds)


def _histogram_add(histogram: list[int], bucket: int) -> None:
    if len(histogram) <= bucket:
        histogram.extend([0] * (bucket + 1 - len(histogram)))
    histogram[bucket] += 1


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _DayBuilder:
    """Collects the slices of one day; ``add`` fans a count out to the whole day and, for today,
    to its hour (total dimension only: the hourly rows feed the "today" chart)."""

    def __init__(self, *, hourly: bool) -> None:
        self.hourly = hourly
        self.slices: dict[SliceKey, _Slice] = defaultdict(_Slice)

    def add(self, dims: Iterable[tuple[str, str]], hour: int | None, **values: Any) -> None:
        keys: list[SliceKey] = [(DailyRollup.WHOLE_DAY, dim, key) for dim, key in dims]
        if self.hourly and hour is not None:
            keys.append((hour, Dim.TOTAL, ""))
        for slice_key in keys:
            row = self.slices[slice_key]
            for name, value in values.items():
                setattr(row, name, getattr(row, name) + value)

    def slice(self, dim: str, key: str = "", hour: int = DailyRollup.WHOLE_DAY) -> _Slice:
        return self.slices[(hour, dim, key)]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def _auto_reply_exists(ticket_ref: str = "pk") -> Exists:
    return Exists(
        OutboundMessage.objects.filter(ticket=OuterRef(ticket_ref), auto_submitted=True).exclude(
            kind=OutboundMessage.Kind.NOTIFICATION
        )
    )


def _path(auto: bool) -> tuple[str, str]:
    return (Dim.PATH, "auto" if auto else "human")


def _tickets(builder: _DayBuilder, start: datetime, end: datetime) -> None:
    rows = (
        Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("channel", "category__slug", hour=ExtractHour("created_at"))
        .annotate(n=Count("pk"))
    )
    for row in rows:
        dims = [(Dim.TOTAL, ""), (Dim.CHANNEL, row["channel"]), (Dim.CATEGORY, row["category__slug"] or "")]
        builder.add(dims, row["hour"], tickets=row["n"])


def _attempts(builder: _DayBuilder, start: datetime, end: datetime) -> None:
    attempts = TriageDecision.objects.filter(created_at__gte=start, created_at__lt=end)
    rows = (
        attempts.annotate(auto=_auto_reply_exists("ticket_id"))
        .values("ticket__category__slug", "auto", "provider", "model", "prompt_version", hour=ExtractHour("created_at"))
        .annotate(
            attempts=Count("pk"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cache_hits=Count("pk", filter=Q(cache_hit=True)),
            cost=Sum("cost_usd"),
            triaged=Count("pk", filter=Q(is_final=True)),
            for_review=Count("pk", filter=Q(is_final=True, needs_review=True)),
            timeouts=Count("pk", filter=Q(error_class__in=TIMEOUT_ERRORS)),
            rate_limits=Count("pk", filter=Q(error_class__in=RATE_LIMIT_ERRORS)),
            validation=Count("pk", filter=Q(error_class__in=VALIDATION_ERRORS)),
            fallbacks=Count("pk", filter=~Q(fallback_reason="")),
        )
    )
    for row in rows:
        model_key = f'{row["provider"]}|{row["model"]}|{row["prompt_version"]}'
        dims = [(Dim.TOTAL, ""), (Dim.CATEGORY, row["ticket__category__slug"] or ""), _path(row["auto"]),
                (Dim.MODEL, model_key)]
        builder.add(
            dims,
            row["hour"],
            attempts=row["attempts"],
            tokens_in=row["tokens_in"] or 0,
            tokens_out=row["tokens_out"] or 0,
            cache_hits=row["cache_hits"],
            cost_usd=Decimal(row["cost"] or 0),
            triaged=row["triaged"],
            for_review=row["for_review"],
            errors_timeout=row["timeouts"],
            errors_rate_limit=row["rate_limits"],
            errors_validation=row["validation"],
            fallbacks=row["fallbacks"],
        )
    reasons: Counter[str] = Counter()
    for codes in attempts.filter(is_final=True, needs_review=True).values_list("review_reasons", flat=True):
        reasons.update(str(code) for code in codes or [])
    for code, count in reasons.items():
        builder.add([(Dim.REASON, code)], None, for_review=count)
    latencies = list(
        attempts.order_by("-created_at").values_list("latency_ms", "created_at")[:LATENCY_SAMPLE]
    )
    groups: dict[int, list[float]] = defaultdict(list)
    for latency_ms, created_at in latencies:
        groups[DailyRollup.WHOLE_DAY].append(float(latency_ms))
        if builder.hourly:
            groups[timezone.localtime(created_at).hour].append(float(latency_ms))
    for hour, values in groups.items():
        values.sort()
        row_slice = builder.slice(Dim.TOTAL, hour=hour)
        row_slice.latency_p50 = _percentile(values, 0.50)
        row_slice.latency_p95 = _percentile(values, 0.95)
        row_slice.latency_p99 = _percentile(values, 0.99)


def _auto_sent(builder: _DayBuilder, start: datetime, end: datetime) -> None:
    rows = (
        OutboundMessage.objects.filter(created_at__gte=start, created_at__lt=end, auto_submitted=True)
        .exclude(kind=OutboundMessage.Kind.NOTIFICATION)
        .values("ticket__category__slug", hour=ExtractHour("created_at"))
        .annotate(n=Count("ticket", distinct=True))
    )
    for row in rows:
        dims = [(Dim.TOTAL, ""), (Dim.CATEGORY, row["ticket__category__slug"] or "")]
        builder.add(dims, row["hour"], auto_sent=row["n"])


def _outcomes(builder: _DayBuilder, start: datetime, end: datetime) -> None:
    """Agent figures count every verdict of that agent; agreement and overrides count a ticket
    once, by its latest decisive verdict (as the quality panel and calibration read them)."""
    later = ReviewOutcome.objects.filter(ticket=OuterRef("ticket"), verdict__in=DECISIVE, pk__gt=OuterRef("pk"))
    rows = (
        ReviewOutcome.objects.filter(decided_at__gte=start, decided_at__lt=end)
        .annotate(superseded=Exists(later), hour=ExtractHour("decided_at"))
        .values_list(
            "reviewer_id", "verdict", "ai_category_slug", "final_category_slug", "ticket__category__slug",
            "edit_distance", "seconds_to_decision", "superseded", "hour", "reason_code",
        )
    )
    for reviewer_id, verdict, ai_slug, final_slug, ticket_slug, distance, seconds, superseded, hour, reason_code in rows:
        agent = [(Dim.AGENT, str(reviewer_id))]
        approved = verdict == ReviewOutcome.Decision.APPROVED
        rejected = verdict == ReviewOutcome.Decision.REJECTED
        builder.add(agent, None, decisions=1, rejected=int(rejected), approved=int(approved),
                    edited=int(approved and bool(distance)))
        if seconds is not None:
            builder.add(agent + [(Dim.TOTAL, ""), (Dim.CATEGORY, ticket_slug or ""), _path(False)], None,
                        handled=1, handling_seconds=float(seconds))
            _histogram_add(builder.slice(Dim.AGENT, str(reviewer_id)).handling_histogram,
                           handling_bucket(float(seconds)))
        if verdict not in DECISIVE or not ai_slug or superseded:
            continue
        builder.add([(Dim.TOTAL, ""), (Dim.CATEGORY, ai_slug)], hour, judged=1, agreed=int(ai_slug == final_slug),
                    overridden=int(ai_slug != final_slug), rejected=int(rejected), approved=int(approved))
        if rejected:
            builder.add([(Dim.REJECT_REASON, reason_code)], None, rejected=1)
        if approved and distance is not None:
            _histogram_add(builder.slice(Dim.TOTAL).edit_histogram, round(float(distance) / EDIT_BUCKET))


def _audits(builder: _DayBuilder, start: datetime, end: datetime) -> None:
    rows = (
        AuditSample.objects.filter(graded_at__gte=start, graded_at__lt=end)
        .exclude(grade="")
        .values("category_slug", hour=ExtractHour("graded_at"))
        .annotate(n=Count("pk"), incorrect=Count("pk", filter=Q(grade=AuditSample.Grade.INCORRECT)))
    )
    for row in rows:
        builder.add(
            [(Dim.TOTAL, ""), (Dim.CATEGORY, row["category_slug"])],
            row["hour"],
            audited=row["n"],
            audit_incorrect=row["incorrect"],
        )


def _csat(builder: _DayBuilder, start: datetime, end: datetime) -> None:
    """A human-approved reply's rating goes to the agent who last approved on that ticket."""
    approver = (
        ReviewOutcome.objects.filter(ticket=OuterRef("ticket"), verdict=ReviewOutcome.Decision.APPROVED)
        .order_by("-decided_at", "-pk")
        .values("reviewer_id")[:1]
    )
    rows = (
        CsatRating.objects.filter(updated_at__gte=start, updated_at__lt=end)
        .annotate(agent=Subquery(approver))
        .values("ticket__category__slug", "auto_sent", "agent", hour=ExtractHour("updated_at"))
        .annotate(
            good=Count("pk", filter=Q(rating=CsatRating.Rating.GOOD)),
            bad=Count("pk", filter=Q(rating=CsatRating.Rating.BAD)),
        )
    )
    for row in rows:
        dims = [(Dim.TOTAL, ""), (Dim.CATEGORY, row["ticket__category__slug"] or ""), _path(row["auto_sent"])]
        if not row["auto_sent"] and row["agent"] is not None:
            dims.append((Dim.AGENT, str(row["agent"])))
        builder.add(dims, row["hour"], csat_good=row["good"], csat_bad=row["bad"])


def _sla_and_resolution(builder: _DayBuilder, start: datetime, end: datetime, now: datetime) -> None:
    due = (
        Ticket.objects.filter(first_response_due_at__gte=start, first_response_due_at__lt=min(end, now))
        .values("category__slug")
        .annotate(due=Count("pk"), met=Count("pk", filter=Q(first_responded_at__lte=F("first_response_due_at"))))
    )
    for due_row in due:
        builder.add([(Dim.TOTAL, ""), (Dim.CATEGORY, due_row["category__slug"] or "")], None,
                    sla_due=due_row["due"], sla_met=due_row["met"])
    cutoff = min(end, now)
    builder.slice(Dim.TOTAL).backlog = (
        Ticket.objects.filter(created_at__lt=cutoff)
        .filter(Q(first_responded_at__isnull=True) | Q(first_responded_at__gte=cutoff))
        .exclude(status=Ticket.Status.CLOSED)
        .count()
    )
    reopened = TicketEvent.objects.filter(
        ticket=OuterRef("pk"),
        verb="reopened",
        created_at__gt=OuterRef("first_responded_at"),
        created_at__lte=OuterRef("first_responded_at") + timedelta(days=REOPEN_DAYS),
    )
    answered = (
        Ticket.objects.filter(first_responded_at__gte=start, first_responded_at__lt=end)
        .annotate(auto=_auto_reply_exists())
        .values("category__slug", "auto")
        .annotate(answered=Count("pk"), resolved=Count("pk", filter=~Exists(reopened)))
    )
    for row in answered:
        dims = [(Dim.TOTAL, ""), (Dim.CATEGORY, row["category__slug"] or ""), _path(row["auto"])]
        builder.add(dims, None, answered=row["answered"], resolved=row["resolved"])


def rollup_day_compute(*, day: date, now: datetime | None = None) -> int:
    """Recompute every roll-up row of ``day`` from the raw rows; returns how many rows it wrote."""
    now = now or timezone.now()
    start, end = _day_bounds(day)
    builder = _DayBuilder(hourly=day == timezone.localdate(now))
    builder.slice(Dim.TOTAL)  # a day with no activity still has its (zero) total row
    _tickets(builder, start, end)
    _attempts(builder, start, end)
    _auto_sent(builder, start, end)
    _outcomes(builder, start, end)
    _audits(builder, start, end)
    _csat(builder, start, end)
    _sla_and_resolution(builder, start, end, now)
    rows = [
        DailyRollup(day=day, hour=hour, dimension=dim, key=key[:200],
                    **{name: getattr(row, name) for name in SLICE_FIELDS})
        for (hour, dim, key), row in builder.slices.items()
    ]
    with transaction.atomic():
        DailyRollup.objects.filter(day=day).delete()
        DailyRollup.objects.bulk_create(rows)
    return len(rows)


def rollups_refresh(*, now: datetime | None = None) -> int:
    """Beat job: today, yesterday and the day whose reopen window just closed."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    days = {today, today - timedelta(days=1), today - timedelta(days=REOPEN_DAYS + 1)}
    return sum(rollup_day_compute(day=day, now=now) for day in sorted(days))


def rollup_backfill(*, days: int, now: datetime | None = None) -> int:
    """Recompute the last ``days`` days (today included); returns the rows written."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    return sum(rollup_day_compute(day=today - timedelta(days=offset), now=now) for offset in range(days))
