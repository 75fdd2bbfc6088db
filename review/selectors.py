from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from support.models import Ticket


def review_queue_for(*, agent: AbstractBaseUser | AnonymousUser) -> QuerySet[Ticket]:
    """Tickets waiting for a human, most urgent SLA first."""
    return (
        Ticket.objects.filter(status=Ticket.Status.AWAITING_REVIEW)
        .select_related("customer", "category", "team", "claimed_by")
        .order_by("first_response_due_at", "created_at")
    )
