"""The triage pipeline: claim a ticket, ask the provider chain, validate, decide, record."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from support.models import Ticket
from support.services import ticket_event_record, triage_dispatch
from triage.models import TriageDecision

logger = logging.getLogger(__name__)


def triage_claim(*, ticket_id: int) -> bool:
    """Move a ticket new → triaging. Exactly one caller wins; a redelivered twin gets False."""
    claimed = Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.NEW).update(
        status=Ticket.Status.TRIAGING, triage_started_at=timezone.now()
    )
    return claimed == 1


def triage_run_execute(*, ticket_id: int) -> str:
    if not triage_claim(ticket_id=ticket_id):
        return "skipped: not new"
    ticket = Ticket.objects.get(pk=ticket_id)
    Ticket.objects.filter(pk=ticket_id).update(triage_attempts=ticket.triage_attempts + 1)
    # No provider is wired in yet: every ticket goes to a human, visibly.
    triage_hand_to_human(ticket=ticket, reasons=["ai_unavailable"], fallback_reason="no provider configured")
    return "awaiting_review"


def triage_hand_to_human(*, ticket: Ticket, reasons: list[str], fallback_reason: str = "") -> TriageDecision:
    with transaction.atomic():
        decision = TriageDecision.objects.create(
            ticket=ticket,
            provider="none",
            needs_review=True,
            review_reasons=reasons,
            is_final=True,
            fallback_reason=fallback_reason,
        )
        Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.AWAITING_REVIEW, review_reasons=reasons)
        ticket_event_record(ticket=ticket, verb="needs_review", actor_label="ai", after={"reasons": reasons})
    return decision


def triage_requeue_stuck() -> int:
    """Tickets left in ``triaging`` past the deadline (a killed worker) go back to ``new``."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.TRIAGE_STUCK_SECONDS)
    stuck = list(
        Ticket.objects.filter(status=Ticket.Status.TRIAGING, triage_started_at__lt=cutoff).values_list("pk", flat=True)
    )
    reset = Ticket.objects.filter(pk__in=stuck, status=Ticket.Status.TRIAGING).update(status=Ticket.Status.NEW)
    if stuck:
        triage_dispatch(ticket_ids=stuck)
    return reset
