"""The end of a triage run: one transaction that applies the decision, or hands the ticket to a
human. Every path ends with the ticket ``auto_replied`` or ``awaiting_review``.

``finalise`` reads as its steps: lock the ticket and check the claim is still ours; apply the
classification; route; apply the SLA; ask the policy; write the final decision; then either queue
the automatic reply (and announce it for audit sampling) or put the ticket in the review queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef

from support.delivery import outbound_reply_create
from support.models import Category, Ticket
from support.services import ticket_event_record
from triage.models import TriageConfiguration, TriageDecision
from triage.pipeline.checks import CheckedOutput, FlagDetails, injection_flag, output_check
from triage.pipeline.claim import claim_is_ours
from triage.pipeline.context import PipelineContext
from triage.pipeline.decide import decision_fields, verdict_for
from triage.pipeline.decision_log import attempt_record, claim_lost, final_decision_record
from triage.policy import PolicyVerdict
from triage.providers import chain_healthy
from triage.providers.chain import ChainResult
from triage.routing import route_ticket
from triage.schemas import TriageOutput
from triage.signals import reply_auto_sent
from triage.sla import sla_apply

logger = logging.getLogger(__name__)

# Set by _classification_apply, written by the outcome's save.
CLASSIFICATION_FIELDS = ("category", "priority", "language", "risk_flags")


@dataclass(frozen=True)
class TriageOutcome:
    status: str
    decision: TriageDecision | None


def finalise(context: PipelineContext, result: ChainResult) -> TriageOutcome:
    winner = result.winner
    assert winner is not None and winner.output is not None
    output = winner.output
    checked = output_check(context, output)
    healthy = chain_healthy(context.setup.providers)  # outside the transaction: it may ask Redis
    with transaction.atomic():
        ticket = _lock(context.ticket.pk)
        if not claim_is_ours(ticket, context.started):
            attempt_record(context, claim_lost(winner))
            return TriageOutcome(status="skipped: claim lost", decision=None)
        category, before = _classification_apply(ticket, output, checked)
        team = route_ticket(ticket=ticket, category=category, language=output.language).team
        sla_apply(ticket=ticket)
        context.ticket = ticket  # the locked row, as the policy reads it
        verdict = verdict_for(
            context, winner=winner, output=output, checked=checked, category=category, team=team, healthy=healthy
        )
        decision = final_decision_record(
            context,
            winner,
            output=output,
            fields=decision_fields(checked, verdict, result),
        )
        ticket_event_record(
            ticket=ticket,
            verb="triaged",
            actor_label="ai",
            before=before,
            after={"category": category.slug, "priority": output.priority, "provider": winner.provider,
                   "decision": decision.pk},
        )
        if verdict.auto_send:
            _reply_automatically(ticket, decision, draft=checked.draft)
        else:
            _queue_for_review(ticket, decision, verdict)
    # Ids and codes only: the ticket text never goes to the log.
    logger.info(
        "triaged ticket %s: %s via %s/%s (cache_hit=%s, cost=%s, reasons=%s, fallback=%s)",
        ticket.pk, ticket.status, winner.provider, winner.model, winner.cache_hit, winner.cost_usd,
        ",".join(verdict.reasons) or "-", "; ".join(result.fallback_reasons) or "-",
    )
    return TriageOutcome(status=str(ticket.status), decision=decision)


def _lock(ticket_id: int) -> Ticket:
    # The row lock and the "already decided?" check of claim_is_ours in one statement.
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "assignee", "team")
        .annotate(has_final_decision=Exists(TriageDecision.objects.final().filter(ticket=OuterRef("pk"))))
        .get(pk=ticket_id)
    )


def _classification_apply(
    ticket: Ticket, output: TriageOutput, checked: CheckedOutput
) -> tuple[Category, dict[str, Any]]:
    category = Category.objects.select_related("default_team").get(slug=output.category)
    before = {"category": ticket.category.slug if ticket.category is not None else None, "priority": ticket.priority}
    ticket.category = category
    ticket.priority = output.priority
    ticket.language = output.language
    ticket.risk_flags = checked.risk_flags
    # Saved with the outcome (_reply_automatically / _queue_for_review): one UPDATE of the row,
    # not two. Routing and SLA write their own columns with queryset updates meanwhile.
    return category, before


def _reply_automatically(ticket: Ticket, decision: TriageDecision, *, draft: str) -> None:
    outbound, _created = outbound_reply_create(
        ticket=ticket, body_text=draft, created_by=None, auto_submitted=True, idempotency_key=f"auto:{ticket.pk}"
    )
    # In this transaction: the review app samples auto-sent replies for audit (triage.signals).
    reply_auto_sent.send(sender=TriageDecision, ticket=ticket, outbound=outbound, decision=decision)
    ticket.status = Ticket.Status.AUTO_REPLIED
    ticket.review_reasons = []
    ticket.save(update_fields=[*CLASSIFICATION_FIELDS, "status", "review_reasons", "updated_at"])
    ticket_event_record(
        ticket=ticket, verb="auto_replied", actor_label="ai", after={"outbound": outbound.pk, "decision": decision.pk}
    )


def _queue_for_review(ticket: Ticket, decision: TriageDecision, verdict: PolicyVerdict) -> None:
    ticket.status = Ticket.Status.AWAITING_REVIEW
    ticket.review_reasons = list(verdict.reasons)
    ticket.save(update_fields=[*CLASSIFICATION_FIELDS, "status", "review_reasons", "updated_at"])
    ticket_event_record(
        ticket=ticket, verb="needs_review", actor_label="ai",
        after={"reasons": list(verdict.reasons), "decision": decision.pk},
    )


def hand_over_if_ours(
    *,
    ticket_id: int,
    started: datetime,
    reasons: list[str],
    fallback_reason: str,
    context: PipelineContext | None = None,
    error_class: str = "",
) -> TriageDecision | None:
    """No usable AI answer: hand the ticket to a human, if the claim is still ours."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if not claim_is_ours(ticket, started):
            return None
        details: FlagDetails = injection_flag(context.injection) if context is not None else {}
        return triage_hand_to_human(
            ticket=ticket,
            reasons=reasons,
            fallback_reason=fallback_reason,
            risk_flags=list(details),
            flag_details=details,
            high_stakes_probability=context.high_stakes_probability if context else None,
            prompt_version=context.prompt_version if context else "",
            input_hash=context.input_hash if context else "",
            attempt=(context.attempts + 1) if context else 1,
            error_class=error_class,
            # Without a context (the pipeline broke before it had one), the configuration in
            # production now is the one that was asked.
            configuration=context.setup.configuration if context else TriageConfiguration.objects.production(),
        )


def triage_hand_to_human(
    *,
    ticket: Ticket,
    reasons: list[str],
    fallback_reason: str = "",
    risk_flags: list[str] | None = None,
    flag_details: FlagDetails | None = None,
    high_stakes_probability: float | None = None,
    prompt_version: str = "",
    input_hash: str = "",
    attempt: int = 1,
    error_class: str = "",
    configuration: TriageConfiguration | None = None,
) -> TriageDecision:
    """Write the final 'no AI decision' row and put the ticket in the review queue."""
    with transaction.atomic():
        decision = TriageDecision.objects.create(
            ticket=ticket,
            configuration=configuration,
            attempt=attempt,
            provider="none",
            prompt_version=prompt_version,
            input_hash=input_hash,
            needs_review=True,
            review_reasons=reasons,
            risk_flags=risk_flags or [],
            flag_details=flag_details or {},
            high_stakes_probability=high_stakes_probability,
            is_final=True,
            fallback_reason=fallback_reason[:200],
            error_class=error_class[:120],
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            status=Ticket.Status.AWAITING_REVIEW, review_reasons=reasons, risk_flags=risk_flags or []
        )
        ticket_event_record(ticket=ticket, verb="needs_review", actor_label="ai", after={"reasons": reasons})
    logger.info("ticket %s handed to a human: %s (%s)", ticket.pk, ",".join(reasons), fallback_reason or "-")
    return decision
