"""The ticket lifecycle after triage: solved, pending on the customer, on hold, and reopened.

Any status change goes through the team-visibility rule (``Ticket.objects.visible_to``): an agent
can only move their teams' tickets. A ticket a colleague holds under a live claim is theirs.

The SLA clock: pending on the customer pauses it (``Ticket.sla_paused_at``); leaving pending moves
the due times forward by the paused time (``Ticket.sla_resume_fields``). Solved and closed stop
it (the SLA jobs only look at open tickets), and the page hides the countdown once it is met."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from review.services.errors import ClaimHeldError, ReviewError
from support.models import DONE_STATUSES, Ticket
from support.reasons import REASON_REOPENED_BY_AGENT
from support.services import ticket_event_record

# The statuses an agent may set by hand, and the ones a ticket may be set from.
SETTABLE_STATUSES = (Ticket.Status.PENDING_CUSTOMER, Ticket.Status.ON_HOLD, Ticket.Status.SOLVED)
SETTABLE_FROM = (
    Ticket.Status.AWAITING_REVIEW,
    Ticket.Status.REPLIED,
    Ticket.Status.AUTO_REPLIED,
    Ticket.Status.PENDING_CUSTOMER,
    Ticket.Status.ON_HOLD,
)
REOPENABLE = (*DONE_STATUSES, Ticket.Status.REPLIED, Ticket.Status.AUTO_REPLIED,
              Ticket.Status.PENDING_CUSTOMER, Ticket.Status.ON_HOLD)


def _lock_visible(*, ticket_id: int, agent: User) -> Ticket:
    """Lock the ticket if ``agent`` may see it; a colleague's live claim blocks the change.
    Call inside ``atomic()``. Raises ``Ticket.DoesNotExist`` for a ticket outside their teams."""
    ticket = Ticket.objects.visible_to(agent=agent).select_for_update(of=("self",)).get(pk=ticket_id)
    if ticket.claimed_by_id not in (None, agent.pk) and ticket.claim_is_live(now=timezone.now()):
        holder = ticket.claimed_by.get_username() if ticket.claimed_by else "someone"
        raise ClaimHeldError(holder, ticket.claim_expires_at)
    return ticket


def _save(ticket: Ticket, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(ticket, name, value)
    ticket.save(update_fields=[*changes, "updated_at"])


def ticket_status_set(*, ticket_id: int, agent: User, status: str, note: str = "") -> Ticket:
    """Set a worked ticket to solved, pending on the customer or on hold; releases the claim."""
    if status not in SETTABLE_STATUSES:
        raise ReviewError("Choose solved, pending on customer or on hold.")
    with transaction.atomic():
        ticket = _lock_visible(ticket_id=ticket_id, agent=agent)
        before = ticket.status
        if before == status:
            return ticket
        if before not in SETTABLE_FROM:
            raise ReviewError(f"A {ticket.get_status_display().lower()} ticket can't be set to that; reopen it first.")
        now = timezone.now()
        changes: dict[str, Any] = {"status": status, "claimed_by": None, "claimed_at": None, "claim_expires_at": None}
        if before == Ticket.Status.PENDING_CUSTOMER:
            changes.update(ticket.sla_resume_fields(now=now))
        if status == Ticket.Status.PENDING_CUSTOMER:
            changes["sla_paused_at"] = now
        if status == Ticket.Status.SOLVED:
            changes["resolved_at"] = now
        _save(ticket, changes)
        ticket_event_record(
            ticket=ticket, verb=f"status_{status}", actor=agent, note=note.strip(),
            before={"status": before}, after={"status": status},
        )
    return ticket


def ticket_reopen(*, ticket_id: int, agent: User, note: str = "") -> Ticket:
    """Bring a closed, solved, answered or waiting ticket back to the review queue, with the
    reason ``reopened_by_agent``. It is the undo of a reject-and-close too."""
    with transaction.atomic():
        ticket = _lock_visible(ticket_id=ticket_id, agent=agent)
        before = ticket.status
        if before not in REOPENABLE:
            raise ReviewError("This ticket is still open.")
        now = timezone.now()
        changes: dict[str, Any] = {
            "status": Ticket.Status.AWAITING_REVIEW,
            "resolved_at": None,
            "review_reasons": list(dict.fromkeys([*(ticket.review_reasons or []), REASON_REOPENED_BY_AGENT])),
            **ticket.sla_resume_fields(now=now),
        }
        _save(ticket, changes)
        ticket_event_record(
            ticket=ticket, verb="reopened", actor=agent, note=note.strip(),
            before={"status": before}, after={"status": Ticket.Status.AWAITING_REVIEW},
        )
    return ticket
