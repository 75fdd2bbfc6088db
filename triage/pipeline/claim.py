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
    """Call on the row locked for finalising: still triaging, under our token, and not decided.
    A ticket locked with a ``has_final_decision`` annotation saves the extra query."""
    if ticket.status != Ticket.Status.TRIAGING or ticket.triage_started_at != started:
        return False
    has_final = getattr(ticket, "has_final_decision", None)
    if has_final is None:
        has_final = TriageDecision.objects.final().filter(ticket=ticket).exists()
    return not has_final


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
