"""Bulk triage of the queue: assign, snooze or close as spam several tickets at once.

Each acts only on the tickets the agent may handle (``Ticket.objects.handleable_by``): an id of
another team's ticket, or of one already answered, is skipped, never an error, and the caller
says how many were changed. One ``TicketEvent`` per changed ticket records who did it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from review.services.decisions import SNOOZE_CHOICES_MINUTES
from review.services.errors import ReviewError
from support.models import Ticket, TicketEvent

BULK_MAX = 200


def _bulk_update(
    *, agent: User, ticket_ids: Iterable[int], changes: dict[str, Any], verb: str, after: dict[str, Any]
) -> list[int]:
    ids = sorted(set(ticket_ids))[:BULK_MAX]
    with transaction.atomic():
        # Lock the rows so a colleague's approve or claim can't interleave with the change.
        locked = list(
            Ticket.objects.handleable_by(agent=agent)
            .filter(pk__in=ids)
            .select_for_update()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not locked:
            return []
        Ticket.objects.filter(pk__in=locked).update(updated_at=timezone.now(), **changes)
        TicketEvent.objects.bulk_create(
            TicketEvent(
                ticket_id=ticket_id,
                verb=verb,
                actor=agent,
                actor_label=agent.get_username(),
                before={},
                after=after,
            )
            for ticket_id in locked
        )
    return locked


def tickets_bulk_assign(*, agent: User, ticket_ids: Iterable[int], assignee: User) -> list[int]:
    """Assign the tickets to ``assignee``, who must be able to review tickets."""
    if not assignee.is_active or not assignee.has_perm("support.review_ticket"):
        raise ReviewError(f"{assignee.get_username()} can't review tickets.")
    return _bulk_update(
        agent=agent,
        ticket_ids=ticket_ids,
        changes={"assignee": assignee},
        verb="bulk_assigned",
        after={"assignee": assignee.get_username()},
    )


def tickets_bulk_snooze(*, agent: User, ticket_ids: Iterable[int], minutes: int) -> list[int]:
    if minutes not in SNOOZE_CHOICES_MINUTES:
        raise ReviewError("Choose how long to snooze.")
    until = timezone.now() + timedelta(minutes=minutes)
    return _bulk_update(
        agent=agent,
        ticket_ids=ticket_ids,
        changes={"snoozed_until": until},
        verb="bulk_snoozed",
        after={"snoozed_until": until.isoformat()},
    )


def tickets_bulk_close_spam(*, agent: User, ticket_ids: Iterable[int]) -> list[int]:
    """Close the tickets unanswered: nothing is sent to the sender of spam."""
    return _bulk_update(
        agent=agent,
        ticket_ids=ticket_ids,
        changes={
            "status": Ticket.Status.CLOSED,
            "resolved_at": timezone.now(),
            "claimed_by": None,
            "claimed_at": None,
            "claim_expires_at": None,
        },
        verb="closed_as_spam",
        after={"status": Ticket.Status.CLOSED.value},
    )
