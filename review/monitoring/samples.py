"""Reads one window's ``Samples`` from the decision log, the review outcomes and the audits.

Counts come from GROUP BY queries over every row; values for the distributions from an even
sub-sample (every k-th primary key) of at most ``SAMPLE_LIMIT`` rows, so a 30-day reference at a
million decisions costs a bounded read, and the sample covers the whole window, not its newest end.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Length, Mod

from review.models import AuditSample, ReviewOutcome
from review.monitoring.checks import Samples
from review.monitoring.errors import FALLBACK, PROVIDER_CALL, error_type_filters
from support.models import Message
from triage.models import TriageDecision

SAMPLE_LIMIT = 20_000

QS = TypeVar("QS", bound=QuerySet[Any, Any])


def _spread(queryset: QS, *, key: str = "pk", limit: int = SAMPLE_LIMIT) -> QS:
    total = queryset.count()
    step = math.ceil(total / limit) if total > limit else 1
    if step == 1:
        return queryset
    return queryset.annotate(_bucket=Mod(F(key), step)).filter(_bucket=0)


def _counts(queryset: QuerySet[TriageDecision], column: str) -> dict[str, int]:
    rows = queryset.exclude(**{column: ""}).order_by().values_list(column).annotate(n=Count("pk"))
    return {str(value): n for value, n in rows}


def samples_read(*, start: datetime, end: datetime) -> Samples:
    """Everything decided in ``[start, end)``: final decisions by their time, review outcomes by
    their decision time, audits by their grading time, provider attempts by their time."""
    rows = TriageDecision.objects.filter(created_at__gte=start, created_at__lt=end)
    finals = rows.final()
    first_message_length = Subquery(
        Message.objects.filter(ticket=OuterRef("ticket_id"), direction=Message.Direction.INBOUND)
        .order_by("created_at", "id")
        .annotate(length=Length("body_text"))
        .values("length")[:1]
    )
    sampled = list(
        _spread(finals)
        .annotate(length=first_message_length)
        .values_list("confidence", "length", "needs_review", "review_reasons")
    )
    reasons: Counter[str] = Counter()
    for _confidence, _length, needs_review, review_reasons in sampled:
        if needs_review:
            reasons.update(str(code) for code in review_reasons or [])

    verdicts = ReviewOutcome.objects.filter(decided_at__gte=start, decided_at__lt=end).aggregate(
        judged=Count("pk", filter=Q(verdict__in=[
            ReviewOutcome.Decision.APPROVED, ReviewOutcome.Decision.REJECTED, ReviewOutcome.Decision.OVERRIDDEN,
        ])),
        overridden=Count("pk", filter=Q(verdict=ReviewOutcome.Decision.OVERRIDDEN)),
        rejected=Count("pk", filter=Q(verdict=ReviewOutcome.Decision.REJECTED)),
    )
    audits = AuditSample.objects.filter(graded_at__gte=start, graded_at__lt=end).exclude(grade="").aggregate(
        graded=Count("pk"), incorrect=Count("pk", filter=Q(grade=AuditSample.Grade.INCORRECT))
    )
    error_filters = error_type_filters()
    attempts = rows.aggregate(
        attempts=Count("pk", filter=PROVIDER_CALL),
        finals=Count("pk", filter=Q(is_final=True)),
        fallbacks=Count("pk", filter=FALLBACK),
        **{f"error_{kind}": Count("pk", filter=PROVIDER_CALL & q) for kind, q in error_filters.items()},
    )
    latencies = _spread(rows.filter(PROVIDER_CALL, cache_hit=False)).values_list("latency_ms", flat=True)
    per_ticket = rows.order_by().values("ticket_id").annotate(cost=Sum("cost_usd"))
    costs = _spread(per_ticket, key="ticket_id").values_list("cost", flat=True)
    return Samples(
        categories=_counts(finals, "category_slug"),
        languages=_counts(finals, "language"),
        review_reasons=dict(reasons),
        confidences=[float(confidence) for confidence, *_rest in sampled if confidence is not None],
        ticket_lengths=[float(length) for _c, length, *_rest in sampled if length is not None],
        latencies_ms=[float(latency) for latency in latencies],
        costs_per_ticket=[float(cost or 0) for cost in costs],
        judged=verdicts["judged"],
        overridden=verdicts["overridden"],
        rejected=verdicts["rejected"],
        audits_graded=audits["graded"],
        audits_incorrect=audits["incorrect"],
        attempts=attempts["attempts"],
        errors={kind: attempts[f"error_{kind}"] for kind in error_filters},
        finals=attempts["finals"],
        fallbacks=attempts["fallbacks"],
    )
