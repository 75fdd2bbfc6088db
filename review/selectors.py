"""Reads for the review pages. Each selector owns its joins and annotations, so the number of SQL
queries a page costs is fixed: it does not grow with the number of rows shown (see bench/review.md).

The queue's reads live in ``review.queue_selectors`` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from review.models import AuditSample, ReviewOutcome
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
from support.models import Category, Message, OutboundMessage, Priority, Team, Ticket
from support.reasons import reason_label
from triage.kb.models import Chunk
from triage.models import TriageDecision

# --- the ticket page -----------------------------------------------------------------------------


@dataclass
class CitedPassage:
    chunk_id: int
    article_title: str
    article_slug: str
    heading: str
    text: str


@dataclass
class TicketDetail:
    ticket: Ticket
    decision: TriageDecision | None
    passages: list[CitedPassage]
    flag_evidence: dict[str, list[str]]
    reason_labels: list[str]
    categories: list[Category]
    teams: list[Team]
    priorities: list[tuple[str, str]] = field(default_factory=lambda: list(Priority.choices))

    @property
    def evidence_terms(self) -> list[str]:
        return [term for terms in self.flag_evidence.values() for term in terms]


def _cited_chunk_ids(citations: Any) -> list[int]:
    """Citations are chunk ids; tolerate ``{"chunk_id": n}`` dicts from other providers."""
    ids: list[int] = []
    for item in citations or []:
        value = item.get("chunk_id") if isinstance(item, dict) else item
        try:
            ids.append(int(str(value)))
        except (TypeError, ValueError):
            continue
    return ids


def flag_evidence(flag_details: Any, risk_flags: list[str]) -> dict[str, list[str]]:
    """Normalise ``TriageDecision.flag_details`` to ``{flag: [evidence text, ...]}``.

    Accepts the documented ``{"flag": ..., "evidence": [...]}``, a mapping ``{flag: {"evidence":
    [...]}}`` / ``{flag: [...]}`` / ``{flag: "text"}``, or a list of ``{"flag", "evidence"}``.
    """
    found: dict[str, list[str]] = {flag: [] for flag in risk_flags or []}

    def add(flag: str, evidence: Any) -> None:
        if isinstance(evidence, dict):
            evidence = evidence.get("evidence", [])
        if isinstance(evidence, str):
            evidence = [evidence]
        if not isinstance(evidence, list):
            return
        found.setdefault(str(flag), []).extend(str(item) for item in evidence if str(item).strip())

    if isinstance(flag_details, list):
        for item in flag_details:
            if isinstance(item, dict) and "flag" in item:
                add(item["flag"], item.get("evidence", []))
    elif isinstance(flag_details, dict):
        if "flag" in flag_details:
            add(flag_details["flag"], flag_details.get("evidence", []))
        else:
            for flag, evidence in flag_details.items():
                add(flag, evidence)
    return found


def ticket_visible(*, agent: User, ticket_id: int) -> bool:
    """Whether the ticket exists and ``agent`` may see it (``Ticket.objects.visible_to``)."""
    return Ticket.objects.visible_to(agent=agent).filter(pk=ticket_id).exists()


def review_ticket_detail(*, ticket_id: int, agent: User) -> TicketDetail:
    """Everything the ticket page shows, in a fixed number of queries. Raises
    ``Ticket.DoesNotExist`` for an unknown ticket and for one ``agent`` may not see."""
    ticket = (
        Ticket.objects.visible_to(agent=agent)
        .select_related("customer", "category", "team", "assignee", "claimed_by")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.select_related("author_user").order_by("created_at", "id"),
            ),
            Prefetch(
                "outbound_messages", queryset=OutboundMessage.objects.order_by("-created_at", "-id")
            ),
            Prefetch(
                "review_outcomes",
                queryset=ReviewOutcome.objects.select_related("reviewer").order_by(
                    "-decided_at", "-id"
                ),
            ),
        )
        .annotate(
            customer_ticket_count=Coalesce(
                Subquery(
                    Ticket.objects.filter(customer=OuterRef("customer"))
                    .order_by()
                    .values("customer")
                    .annotate(n=Count("pk"))
                    .values("n")[:1]
                ),
                Value(0),
            )
        )
        .get(pk=ticket_id)
    )
    decision = TriageDecision.objects.final_for(ticket_id=ticket.pk)
    passages: list[CitedPassage] = []
    evidence: dict[str, list[str]] = {}
    if decision is not None:
        chunk_ids = _cited_chunk_ids(decision.citations)
        by_id = {
            chunk.pk: chunk
            for chunk in Chunk.objects.filter(pk__in=chunk_ids).select_related("article")
        }
        passages = [
            CitedPassage(
                chunk_id=chunk.pk,
                article_title=chunk.article.title,
                article_slug=chunk.article.slug,
                heading=chunk.heading,
                text=chunk.text,
            )
            for chunk_id in chunk_ids
            if (chunk := by_id.get(chunk_id)) is not None
        ]
        evidence = flag_evidence(
            decision.flag_details, list(decision.risk_flags or []) + list(ticket.risk_flags or [])
        )
    else:
        evidence = flag_evidence({}, list(ticket.risk_flags or []))
    return TicketDetail(
        ticket=ticket,
        decision=decision,
        passages=passages,
        flag_evidence=evidence,
        reason_labels=[reason_label(code) for code in ticket.review_reasons or []],
        categories=list(Category.objects.only("pk", "slug", "name")),
        teams=list(Team.objects.only("pk", "slug", "name")),
    )


def review_delivery_state(*, ticket_id: int, agent: User) -> list[OutboundMessage]:
    """The outbox rows of a ticket, newest first (the delivery fragment polls this); empty for
    a ticket ``agent`` may not see."""
    return list(
        OutboundMessage.objects.filter(
            ticket_id=ticket_id, ticket__in=Ticket.objects.visible_to(agent=agent)
        ).order_by("-created_at", "-id")
    )


# --- audits and brakes ---------------------------------------------------------------------------


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
