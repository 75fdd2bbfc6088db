"""The queue's search field and its views (My tickets, Escalated, Snoozed, Pending, Breached).

Search reads three kinds of text: a ticket reference (``SB-14``, or just ``14``), a customer's
e-mail address, and words from the subject, the customer's name or any message. On PostgreSQL
the words go through full-text search (``SearchVector``/``SearchQuery``, English stemming, so
"charged" finds "charge"); SQLite has no full-text search here, so it matches substrings
(``icontains``) over the same fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from support.models import Message, Ticket

SEARCH_CONFIG = "english"
_REFERENCE = re.compile(r"^\s*(?:SB-?)?(\d{1,18})\s*$", re.IGNORECASE)

# A ticket waiting on the customer (the lifecycle's status; its SLA clock is paused).
PENDING_STATUS = Ticket.Status.PENDING_CUSTOMER


@dataclass(frozen=True)
class QueueView:
    slug: str
    label: str


QUEUE_VIEWS = (
    QueueView("mine", "My tickets"),
    QueueView("escalated", "Escalated"),
    QueueView("snoozed", "Snoozed"),
    QueueView("pending", "Pending"),
    QueueView("breached", "Breached"),
)
QUEUE_VIEW_SLUGS = [view.slug for view in QUEUE_VIEWS]


def queue_view_q(*, view: str, agent: User, now: datetime) -> Q:
    """Which of the tickets ``agent`` may see (``Ticket.objects.visible_to``) a view shows.

    Tickets escalated to a manager are the manager's to handle: an agent sees them only in the
    Escalated view, as in ``Ticket.objects.handleable_by``."""
    awaiting = Q(status=Ticket.Status.AWAITING_REVIEW)
    awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)
    handleable = awaiting
    if not agent.has_perm("support.view_dashboard"):
        handleable &= Q(escalated_to_manager=False)
    return {
        "mine": handleable & awake & Q(assignee=agent),
        "escalated": awaiting & Q(escalated_to_manager=True),
        "snoozed": handleable & Q(snoozed_until__gt=now),
        "pending": Q(status=PENDING_STATUS),
        "breached": handleable & awake & Q(first_response_due_at__lte=now),
    }[view]


def queue_view_counts(
    *, visible: QuerySet[Ticket], agent: User, now: datetime
) -> dict[str, int]:
    """How many tickets each view shows: one aggregate query."""
    result = visible.order_by().aggregate(
        **{
            view.slug: Count("pk", filter=queue_view_q(view=view.slug, agent=agent, now=now))
            for view in QUEUE_VIEWS
        }
    )
    return {slug: result[slug] or 0 for slug in QUEUE_VIEW_SLUGS}


def queue_search(queryset: QuerySet[Ticket], text: str) -> QuerySet[Ticket]:
    """``queryset`` narrowed to the tickets ``text`` finds (see the module docstring)."""
    text = text.strip()
    if not text:
        return queryset
    reference = _REFERENCE.match(text)
    if reference:
        return queryset.filter(pk=int(reference.group(1)))
    if "@" in text:
        return queryset.filter(customer__email__icontains=text)
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
        in_messages = Message.objects.annotate(
            document=SearchVector("body_text", config=SEARCH_CONFIG)
        ).filter(ticket=OuterRef("pk"), document=query)
        return queryset.annotate(
            search_document=SearchVector("subject", "customer__name", config=SEARCH_CONFIG)
        ).filter(Q(search_document=query) | Exists(in_messages))
    in_message = Message.objects.filter(ticket=OuterRef("pk"), body_text__icontains=text)
    return queryset.filter(
        Q(subject__icontains=text) | Q(customer__name__icontains=text) | Exists(in_message)
    )
