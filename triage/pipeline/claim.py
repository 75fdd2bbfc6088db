"""Claiming a ticket for triage, and getting stuck claims back.

The claim is ``new -> triaging`` with a conditional UPDATE; its start time is the claim token:
finalising checks it is unchanged, so a worker whose claim was swept (presumed dead) cannot write
a second outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from support.models import Ticket
from support.services import triage_dispatch
from triage.models import TriageDecision


def triage_claim_token(*, ticket_id: int) -> datetime | None:
    """Move a ticket new -> triaging and return the claim's start time, or None if someone else
    has it (a redelivered twin)."""
    started = timezone.now()
    claimed = Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.NEW).update(
        status=Ticket.Status.TRIAGING,
        triage_started_at=started,
        triage_attempts=F("triage_attempts") + 1,
    )
    return started if claimed == 1 else None


def claim_is_ours(ticket: Ticket, started: datetime) -> bool:
    """Call on the row locked for finalising: still triaging, under our token, and not decided."""
    return (
        ticket.status == Ticket.Status.TRIAGING
        and ticket.triage_started_at == started
        and not TriageDecision.objects.final().filter(ticket=ticket).exists()
    )


def triage_requeue_stuck() -> int:
    """Tickets left in ``triaging`` past the deadline (a killed worker) go back to ``new``."""
    cutoff = timezone.now() - timedelta(seconds=settings.TRIAGE_STUCK_SECONDS)
    stuck = list(
        Ticket.objects.filter(
            status=Ticket.Status.TRIAGING, triage_started_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    reset = Ticket.objects.filter(pk__in=stuck, status=Ticket.Status.TRIAGING).update(
        status=Ticket.Status.NEW
    )
    if stuck:
        triage_dispatch(ticket_ids=stuck)
    return reset
