"""Reads for the review queue: one screen of tickets, the counts beside every filter and view, and
what the queue's forms offer. Costs a fixed number of SQL queries whatever the page size (see
bench/review.md and tests/review/test_views.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, FilteredRelation, Q, QuerySet
from django.utils import timezone

from review.queue_search import queue_search, queue_view_counts, queue_view_q
from support.models import URGENCY_ORDER, AgentProfile, Category, Priority, Team, Ticket
from support.reasons import reason_choices, reason_label, reasons_ranked

SLA_AT_RISK = timedelta(hours=1)
SLA_STATES = {
    "breached": "Breached",
    "at_risk": "Due within 1 h",
    "ok": "On track",
    "none": "No SLA",
}
CONFIDENCE_BANDS = {
    "low": "Low (< 0.5)",
    "medium": "Medium (0.5–0.8)",
    "high": "High (≥ 0.8)",
    "none": "No AI score",
}
PAGE_SIZE_DEFAULT = 50
QUEUE_COUNTS_CACHE_SECONDS = 15
PAGE_SIZE_MAX = 200


@dataclass(frozen=True)
class QueueFilters:
    team: str = ""
    category: str = ""
    priority: str = ""
    reason: str = ""
    sla: str = ""
    confidence: str = ""
    mine: bool = False
    # Not counts groups: a search or a view always needs its own COUNT.
    q: str = ""
    view: str = ""

    def chosen(self) -> list[tuple[str, str]]:
        """The active filters as (counts group, value) pairs."""
        pairs = [
            ("team", self.team),
            ("category", self.category),
            ("priority", self.priority),
            ("reason", self.reason),
            ("sla", self.sla),
            ("confidence", self.confidence),
            ("mine", "1" if self.mine else ""),
        ]
        return [(group, value) for group, value in pairs if value]

    def active(self) -> bool:
        return bool(self.chosen())


@dataclass
class QueuePage:
    rows: Sequence[Ticket]
    total: int
    counts: dict[str, dict[str, int]]
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total

    @property
    def next_offset(self) -> int:
        return self.offset + self.limit

    @property
    def prev_offset(self) -> int:
        return max(0, self.offset - self.limit)


@dataclass(frozen=True)
class QueueChoices:
    """What the filter bar offers this agent (also reused by the queue query)."""

    team_ids: list[int]
    teams: list[Team]
    categories: list[Category]


def queue_choices(*, agent: User) -> QueueChoices:
    team_ids = AgentProfile.team_ids_of(user=agent)
    teams = list(Team.objects.filter(pk__in=team_ids) if team_ids else Team.objects.all())
    return QueueChoices(
        team_ids=team_ids, teams=teams, categories=list(Category.objects.only("pk", "slug", "name"))
    )


def _with_final_decision(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Alias the final TriageDecision as a LEFT JOIN (at most one row per ticket, by the partial
    unique constraint). A join, not a correlated subquery: PostgreSQL inlines a subquery once per
    reference, which made the counts query five lookups per ticket. The join is only added to
    queries that use ``ai_confidence``/``final_decision__…``."""
    return queryset.alias(
        final_decision=FilteredRelation(
            "triage_decisions", condition=Q(triage_decisions__is_final=True)
        ),
        ai_confidence=F("final_decision__confidence"),
    )


def _reason_q(code: str) -> Q:
    # PostgreSQL: jsonb containment (@>). SQLite's JSON1 has no containment: match the quoted code
    # in the serialised list instead, which is exact for our snake_case codes.
    if connection.vendor == "postgresql":
        return Q(review_reasons__contains=[code])
    return Q(review_reasons__icontains=f'"{code}"')


def _sla_q(state: str, now: datetime) -> Q:
    due = "first_response_due_at"
    return {
        "breached": Q(**{f"{due}__lte": now}),
        "at_risk": Q(**{f"{due}__gt": now, f"{due}__lte": now + SLA_AT_RISK}),
        "ok": Q(**{f"{due}__gt": now + SLA_AT_RISK}),
        "none": Q(**{f"{due}__isnull": True}),
    }.get(state, Q())


def _confidence_q(band: str) -> Q:
    return {
        "low": Q(ai_confidence__lt=0.5),
        "medium": Q(ai_confidence__gte=0.5, ai_confidence__lt=0.8),
        "high": Q(ai_confidence__gte=0.8),
        "none": Q(ai_confidence__isnull=True),
    }.get(band, Q())


def _base_queue(*, agent: User, now: datetime, team_ids: list[int]) -> QuerySet[Ticket]:
    """What waits for this agent: reviewable, theirs to handle, not snoozed. Claimed tickets stay
    visible (marked with who holds them); Next ticket skips them."""
    return Ticket.objects.handleable_by(agent=agent, team_ids=team_ids).awake(now=now)


def review_queue(
    *,
    agent: User,
    filters: QueueFilters,
    choices: QueueChoices | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE_DEFAULT,
    now: datetime | None = None,
) -> QueuePage:
    """The queue page: one screen of tickets most urgent first, the total, and counts per filter
    value. Costs a fixed number of queries whatever ``limit`` is."""
    now = now or timezone.now()
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    choices = choices or queue_choices(agent=agent)
    base = _base_queue(agent=agent, now=now, team_ids=choices.team_ids)
    shown = base
    if filters.view or filters.q:
        # A view, or a search (which finds a ticket in any status), reads every ticket the
        # agent may see rather than only those waiting for them.
        shown = Ticket.objects.visible_to(agent=agent, team_ids=choices.team_ids)
        if filters.view:
            shown = shown.filter(queue_view_q(view=filters.view, agent=agent, now=now))
        shown = queue_search(shown, filters.q)

    filtered = _with_final_decision(shown)
    if filters.team:
        filtered = filtered.filter(team__slug=filters.team)
    if filters.category:
        filtered = filtered.filter(category__slug=filters.category)
    if filters.priority:
        filtered = filtered.filter(priority=filters.priority)
    if filters.reason:
        filtered = filtered.filter(_reason_q(filters.reason))
    if filters.sla:
        filtered = filtered.filter(_sla_q(filters.sla, now))
    if filters.confidence:
        filtered = filtered.filter(_confidence_q(filters.confidence))
    if filters.mine:
        filtered = filtered.filter(Q(assignee=agent) | Q(claimed_by=agent))

    rows = list(
        filtered.select_related("customer", "category", "team", "claimed_by", "assignee")
        .annotate(
            ai_category_slug=F("final_decision__category_slug"),
            ai_confidence_value=F("ai_confidence"),
        )
        .order_by(*URGENCY_ORDER)[offset : offset + limit]
    )
    for row in rows:
        # Display-only attributes computed in Python: no extra query, nothing for a template to do.
        live = row.claim_is_live(now=now)
        labels = [reason_label(code) for code in reasons_ranked(row.review_reasons)]
        setattr(row, "reason_labels", labels)  # noqa: B010
        setattr(row, "sla_state", _sla_state(row.first_response_due_at, now))  # noqa: B010
        setattr(row, "claim_live", live)  # noqa: B010
    counts = _queue_counts(base=base, agent=agent, now=now, choices=choices)
    # With no filter or a single one, the (cached) counts already hold the total; only
    # combinations need their own COUNT.
    chosen = filters.chosen()
    if len(chosen) <= 1 and not (filters.q or filters.view):
        group, value = chosen[0] if chosen else ("total", "")
        total = counts.get(group, {}).get(value, 0)
    else:
        total = filtered.count()
    return QueuePage(rows=rows, total=total, counts=counts, offset=offset, limit=limit)


def _sla_state(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "none"
    if due <= now:
        return "breached"
    if due <= now + SLA_AT_RISK:
        return "at_risk"
    return "ok"


def _queue_counts(
    *, base: QuerySet[Ticket], agent: User, now: datetime, choices: QueueChoices
) -> dict[str, dict[str, int]]:
    """How many tickets each filter value would show, over the agent's whole queue.

    One query, then cached for ``QUEUE_COUNTS_CACHE_SECONDS`` per agent: every open queue page
    refreshes itself every 30 s, and these counts read every waiting ticket, while the rows
    query reads one screen through the (status, first_response_due_at) index. A count that is
    a few seconds old is fine; a stale row is not, so rows are never cached.
    """
    team_key = ",".join(map(str, sorted(choices.team_ids)))
    key = f"review:queue-counts:v3:{agent.pk}:{team_key}"
    cached = cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]  # the cache returns Any; we stored this shape
    counts = _queue_counts_query(
        base=base, agent=agent, now=now, teams=choices.teams, categories=choices.categories
    )
    counts["view"] = queue_view_counts(
        visible=Ticket.objects.visible_to(agent=agent, team_ids=choices.team_ids),
        agent=agent,
        now=now,
    )
    cache.set(key, counts, QUEUE_COUNTS_CACHE_SECONDS)
    return counts


def _queue_counts_query(
    *,
    base: QuerySet[Ticket],
    agent: User,
    now: datetime,
    teams: Sequence[Team],
    categories: Sequence[Category],
) -> dict[str, dict[str, int]]:
    """One pass over the waiting tickets: ``COUNT(*) FILTER (WHERE …)`` per filter value.

    A single aggregate rather than a GROUP BY per dimension: the waiting tickets are spread over
    a large table, and reading their rows is the cost, so read them once.
    """
    buckets: list[tuple[str, str, Q]] = [("total", "", Q())]
    buckets += [("team", team.slug, Q(team_id=team.pk)) for team in teams]
    buckets += [("category", category.slug, Q(category_id=category.pk)) for category in categories]
    buckets += [("priority", value, Q(priority=value)) for value in Priority.values]
    buckets += [("sla", state, _sla_q(state, now)) for state in SLA_STATES]
    buckets += [("confidence", band, _confidence_q(band)) for band in CONFIDENCE_BANDS]
    buckets += [("reason", code, _reason_q(code)) for code, _label in reason_choices()]
    buckets += [("mine", "1", Q(assignee=agent) | Q(claimed_by=agent))]
    aggregates: dict[str, Any] = {
        f"bucket_{index}": Count("pk", filter=condition) if condition else Count("pk")
        for index, (_group, _name, condition) in enumerate(buckets)
    }
    result = _with_final_decision(base).order_by().aggregate(**aggregates)
    counts: dict[str, dict[str, int]] = {}
    for index, (group, name, _condition) in enumerate(buckets):
        counts.setdefault(group, {})[name] = result[f"bucket_{index}"] or 0
    return counts


def queue_assignees(*, limit: int = 200) -> list[User]:
    """Who a ticket can be assigned to: active users allowed to review tickets (by group or
    directly), by username. One query."""
    permission = Permission.objects.filter(
        codename="review_ticket", content_type__app_label="support"
    )
    return list(
        User.objects.filter(is_active=True)
        .filter(Q(groups__permissions__in=permission) | Q(user_permissions__in=permission) | Q(is_superuser=True))
        .distinct()
        .only("pk", "username")
        .order_by("username")[:limit]
    )


def queue_tickets_handleable(*, agent: User, ticket_ids: list[int]) -> list[Ticket]:
    """The tickets among ``ticket_ids`` that ``agent`` may handle, for a bulk confirmation page."""
    return list(
        Ticket.objects.handleable_by(agent=agent)
        .filter(pk__in=ticket_ids)
        .only("pk", "subject")
        .order_by("pk")
    )


def ticket_with_customer(*, agent: User, ticket_id: int) -> Ticket:
    """The ticket (visible to ``agent``) with its customer; raises ``Ticket.DoesNotExist``."""
    return Ticket.objects.visible_to(agent=agent).select_related("customer").get(pk=ticket_id)
