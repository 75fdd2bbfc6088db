"""Claims: at most one agent works a ticket at a time.

Claims are leases (``REVIEW_CLAIM_SECONDS``) kept alive by the page's heartbeat, so a colleague
who walks away never holds a ticket hostage. Which tickets an agent may take is a query rule of
``Ticket.objects`` (``handleable_by``, ``claimable_by``), shared with the selectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Case, QuerySet, Value, When
from django.utils import timezone

from review.services.errors import ClaimHeldError, NotAwaitingReviewError, ReviewError
from support.models import URGENCY_ORDER, Ticket
from support.services import ticket_event_record


@dataclass(frozen=True)
class ClaimResult:
    ticket: Ticket | None
    released: list[int]


def _claimable(*, agent: User, now: datetime, skip_ticket_id: int | None) -> QuerySet[Ticket]:
    """Claimable tickets in the order Next ticket takes them: those assigned to ``agent`` (by the
    AI's routing or a colleague) first, then unassigned ones, then those assigned to someone else;
    each group most urgent first."""
    queryset = Ticket.objects.handleable_by(agent=agent).claimable_by(agent=agent, now=now)
    if skip_ticket_id is not None:
        queryset = queryset.exclude(pk=skip_ticket_id)
    mine_first = Case(
        When(assignee_id=agent.pk, then=Value(0)),
        When(assignee__isnull=True, then=Value(1)),
        default=Value(2),
    )
    return queryset.order_by(mine_first, *URGENCY_ORDER)


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.REVIEW_CLAIM_SECONDS)


def _release_others(*, agent: User, keep_ticket_id: int | None) -> list[int]:
    """An agent works one ticket at a time: taking the next one hands back the previous."""
    held = Ticket.objects.filter(claimed_by=agent)
    if keep_ticket_id is not None:
        held = held.exclude(pk=keep_ticket_id)
    ids = list(held.values_list("pk", flat=True))
    if ids:
        Ticket.objects.filter(pk__in=ids, claimed_by=agent).update(
            claimed_by=None, claimed_at=None, claim_expires_at=None
        )
    return ids


def review_claim_next(*, agent: User, skip_ticket_id: int | None = None) -> ClaimResult:
    """Claim the most urgent unclaimed ticket this agent may handle; ``ticket`` is None when the
    queue is empty. Two agents calling this at the same moment never get the same ticket.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED LIMIT 1`` — a row another agent is claiming
    right now is skipped instead of waited for, and a row they claimed a moment ago no longer
    matches the WHERE clause when PostgreSQL re-checks it. SQLite has no SKIP LOCKED (writers are
    serialised anyway): there a conditional UPDATE claims a candidate, and a row count of 0 means
    somebody else was faster, so we try the next candidate.
    """
    now = timezone.now()
    with transaction.atomic():
        ticket: Ticket | None = None
        if connection.features.has_select_for_update_skip_locked:
            ticket = (
                _claimable(agent=agent, now=now, skip_ticket_id=skip_ticket_id)
                .select_for_update(skip_locked=True)
                .first()
            )
            if ticket is not None:
                if ticket.claimed_by_id != agent.pk:  # resuming keeps the original claim time
                    ticket.claimed_at = now
                ticket.claimed_by = agent
                ticket.claim_expires_at = _lease_until(now)
                ticket.save(
                    update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"]
                )
        else:
            candidates = list(
                _claimable(agent=agent, now=now, skip_ticket_id=skip_ticket_id).values_list(
                    "pk", flat=True
                )[:10]
            )
            for candidate in candidates:
                won = (
                    Ticket.objects.filter(pk=candidate, status=Ticket.Status.AWAITING_REVIEW)
                    .claimable_by(agent=agent, now=now)
                    .update(
                    claimed_by=agent,
                    claimed_at=now,
                        claim_expires_at=_lease_until(now),
                        updated_at=now,
                    )
                )
                if won == 1:
                    ticket = Ticket.objects.get(pk=candidate)
                    break
        released = _release_others(agent=agent, keep_ticket_id=ticket.pk if ticket else None)
        if ticket is not None:
            ticket_event_record(
                ticket=ticket,
                verb="review_claimed",
                actor=agent,
                after={
                    "claim_expires_at": ticket.claim_expires_at.isoformat()
                    if ticket.claim_expires_at
                    else None
                },
            )
    return ClaimResult(ticket=ticket, released=released)


def review_claim(*, ticket_id: int, agent: User) -> Ticket:
    """Claim one given ticket (opened from the queue). Raises ``ClaimHeldError`` when a
    colleague holds a live lease on it."""
    now = timezone.now()
    with transaction.atomic():
        won = (
            Ticket.objects.filter(pk=ticket_id)
            .handleable_by(agent=agent)
            .claimable_by(agent=agent, now=now)
            .update(
                claimed_by=agent, claimed_at=now, claim_expires_at=_lease_until(now), updated_at=now
            )
        )
        ticket = Ticket.objects.select_related("claimed_by").get(pk=ticket_id)
        if won != 1:
            if ticket.status != Ticket.Status.AWAITING_REVIEW:
                raise NotAwaitingReviewError("This ticket no longer needs review.")
            if ticket.claimed_by is not None and ticket.claimed_by_id != agent.pk:
                raise ClaimHeldError(ticket.claimed_by.get_username(), ticket.claim_expires_at)
            raise ReviewError("You can't take this ticket (another team's, snoozed or escalated).")
        _release_others(agent=agent, keep_ticket_id=ticket.pk)
        ticket_event_record(ticket=ticket, verb="review_claimed", actor=agent)
    return ticket


def review_heartbeat(*, ticket_id: int, agent: User) -> datetime | None:
    """Extend the agent's lease while the page is open. Returns the new expiry, or None when the
    claim was lost (expired and taken by a colleague, or the ticket was decided)."""
    now = timezone.now()
    until = _lease_until(now)
    extended = Ticket.objects.filter(
        pk=ticket_id, claimed_by=agent, status=Ticket.Status.AWAITING_REVIEW
    ).update(claim_expires_at=until)
    return until if extended == 1 else None


def review_release(*, ticket_id: int, agent: User) -> bool:
    released = Ticket.objects.filter(pk=ticket_id, claimed_by=agent).update(
        claimed_by=None, claimed_at=None, claim_expires_at=None
    )
    if released:
        ticket_event_record(
            ticket=Ticket.objects.get(pk=ticket_id), verb="review_released", actor=agent
        )
    return released == 1


def review_claims_expire(*, now: datetime | None = None) -> int:
    """Clear leases nobody renewed (the beat job ``review.tasks.expire_claims_task``).

    Claiming already treats an expired lease as free; this keeps the queue's "claimed by" column
    honest.
    """
    now = now or timezone.now()
    return Ticket.objects.filter(claimed_by__isnull=False, claim_expires_at__lte=now).update(
        claimed_by=None, claimed_at=None, claim_expires_at=None
    )
