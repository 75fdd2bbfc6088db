"""A triage run from claim to outcome, and an operator's re-run.

Every path ends in ``awaiting_review`` or ``auto_replied``: an unexpected error hands the ticket
to a human with ``ai_unavailable``, and a killed worker's ticket is re-queued by the stuck sweeper.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from support.models import Ticket
from support.reasons import REASON_AI_UNAVAILABLE, REASON_INJECTION_SUSPECTED
from support.services import ticket_event_record
from triage.configuration.runtime import production_setup
from triage.models import TriageDecision
from triage.pipeline.claim import triage_claim_token
from triage.pipeline.context import context_build
from triage.pipeline.decide import chain_ask
from triage.pipeline.decision_log import attempt_record
from triage.pipeline.finalise import TriageOutcome, finalise, hand_over_if_ours
from triage.pipeline.shadow import shadows_run
from triage.providers.chain import Attempt

logger = logging.getLogger(__name__)

RERUNNABLE = (Ticket.Status.NEW, Ticket.Status.TRIAGING, Ticket.Status.AWAITING_REVIEW)


class TriageRerunRefused(Exception):
    pass


def triage_run_execute(*, ticket_id: int) -> str:
    """Triage one ticket end to end. Returns a short status string for the task result."""
    started = triage_claim_token(ticket_id=ticket_id)
    if started is None:
        return "skipped: not new"
    status = triage_run_claimed(ticket_id=ticket_id, started=started).status
    # After the ticket's own decision is committed: a shadow never delays or changes it.
    shadows_run(ticket_id=ticket_id)
    return status


def triage_run_claimed(*, ticket_id: int, started: datetime, use_cache: bool = True) -> TriageOutcome:
    """The pipeline body. Precondition: the caller holds the claim identified by ``started``."""
    try:
        return _run(ticket_id=ticket_id, started=started, use_cache=use_cache)
    except Exception as exc:
        # Never a ticket stuck in triaging: whatever broke, a human gets it, visibly.
        logger.exception("triage pipeline failed for ticket %s", ticket_id)
        decision = hand_over_if_ours(
            ticket_id=ticket_id,
            started=started,
            reasons=[REASON_AI_UNAVAILABLE],
            fallback_reason=f"pipeline error: {type(exc).__name__}",
            error_class=type(exc).__name__,
        )
        return TriageOutcome(status="awaiting_review" if decision else "skipped: claim lost", decision=decision)


def _run(*, ticket_id: int, started: datetime, use_cache: bool) -> TriageOutcome:
    # The production configuration decides (settings when there is none), read once per run.
    prepared = context_build(ticket_id=ticket_id, started=started, setup=production_setup())
    context = prepared.context

    def record(attempt: Attempt) -> None:
        attempt_record(context, attempt)

    result = chain_ask(prepared, on_attempt=record, use_cache=use_cache)
    if result.winner is None or result.winner.output is None:
        reasons = [REASON_AI_UNAVAILABLE] + ([REASON_INJECTION_SUSPECTED] if context.injection.suspected else [])
        decision = hand_over_if_ours(
            ticket_id=ticket_id,
            started=started,
            reasons=reasons,
            fallback_reason="; ".join(result.fallback_reasons) or "no provider in LLM_CHAIN answered",
            context=context,
        )
        return TriageOutcome(status="awaiting_review" if decision else "skipped: claim lost", decision=decision)
    return finalise(context, result)


def triage_rerun(*, ticket_id: int, actor_label: str = "operator") -> TriageOutcome:
    """Re-triage a ticket on an operator's request (``triage_ticket --force``).

    Allowed while nobody has answered the customer (new, triaging, awaiting_review). The previous
    final decision stays in the log but loses ``is_final`` (the one row we ever update: the
    partial unique index allows one final row per ticket); an event records who re-ran it.
    """
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if ticket.status not in RERUNNABLE:
            raise TriageRerunRefused(
                f"ticket {ticket_id} is {ticket.status}: a reply already went out, re-triage refused"
            )
        previous = TriageDecision.objects.final_for(ticket_id=ticket.pk)
        if previous is not None:
            TriageDecision.objects.filter(pk=previous.pk).update(is_final=False)
        started = timezone.now()
        Ticket.objects.filter(pk=ticket.pk).update(
            status=Ticket.Status.TRIAGING, triage_started_at=started, triage_attempts=F("triage_attempts") + 1
        )
        ticket_event_record(
            ticket=ticket,
            verb="retriage",
            actor_label=actor_label,
            before={"status": ticket.status, "decision": previous.pk if previous else None},
        )
    # A re-run asks the provider again: serving the cached answer would only repeat the old one.
    return triage_run_claimed(ticket_id=ticket_id, started=started, use_cache=False)
