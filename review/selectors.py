"""Reads for the review pages. Each selector owns its joins and annotations, so the number of SQL
queries a page costs is fixed: it does not grow with the number of rows shown (see bench/review.md).

The queue's reads live in ``review.queue_selectors`` (re-exported here).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from review.models import AuditSample
from review.queue_selectors import (  # noqa: F401  (re-exported: views read selectors.<name>)
    CONFIDENCE_BANDS,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    QUEUE_COUNTS_CACHE_SECONDS,
    SLA_AT_RISK,
    SLA_STATES,
    QueueChoices,
    QueueFilters,
    QueuePage,
    queue_assignees,
    queue_choices,
    queue_tickets_handleable,
    review_queue,
    ticket_with_customer,
)
from support.models import Category, Ticket


def _audit_samples_for(agent: User) -> QuerySet[AuditSample]:
    """Audit samples of the tickets ``agent`` may see."""
    return AuditSample.objects.filter(ticket__in=Ticket.objects.visible_to(agent=agent))


def audit_queue(*, agent: User, limit: int = 50) -> list[AuditSample]:
    """Auto-sent replies picked for grading, oldest first so none waits forever."""
    return list(
        _audit_samples_for(agent)
        .filter(grade="")
        .select_related("ticket", "ticket__customer", "outbound", "decision")
        .order_by("created_at", "pk")[:limit]
    )


def audit_recent(*, agent: User, limit: int = 20) -> list[AuditSample]:
    return list(
        _audit_samples_for(agent)
        .exclude(grade="")
        .select_related("ticket", "graded_by")
        .order_by("-graded_at", "-pk")[:limit]
    )


def audit_sample_visible(*, agent: User, sample_id: int) -> bool:
    """Whether the audit sample exists and its ticket is one ``agent`` may see."""
    return _audit_samples_for(agent).filter(pk=sample_id).exists()


def category_exists(*, category_id: int) -> bool:
    return Category.objects.filter(pk=category_id).exists()


def braked_categories() -> list[Category]:
    return list(
        Category.objects.filter(braked=True)
        .select_related("default_team")
        .order_by("braked_at", "slug")
    )
