"""The decision log: every attempt and the final decision, one ``TriageDecision`` row each.

Failed attempts are written at once, in their own transaction, so the log survives a killed
worker. The columns shared by attempts and final decisions come from one place
(``_attempt_columns``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from triage.models import TriageDecision
from triage.pii import pii_redact_stored
from triage.pipeline.context import PipelineContext
from triage.providers.chain import Attempt
from triage.schemas import TriageOutput

RECORD_MAX_CHARS = 20_000


def _cap(text: str) -> str:
    return text if len(text) <= RECORD_MAX_CHARS else text[:RECORD_MAX_CHARS] + "\n…[truncated]"


def output_columns(output: TriageOutput | None) -> dict[str, Any]:
    """What the model said, as decision-log columns (empty when it said nothing usable)."""
    if output is None:
        return {}
    return {
        "category_slug": output.category,
        "priority": output.priority,
        "sentiment": output.sentiment,
        "language": output.language,
        "team_slug": output.team,
        "confidence": output.confidence,
        "citations": list(output.citations),
        "rationale": output.rationale[:1000],
    }


def _attempt_columns(context: PipelineContext, attempt: Attempt) -> dict[str, Any]:
    """The columns every row made from a provider call has: who answered, at what cost, and the
    redacted request and response."""
    context.attempts += 1
    return {
        "ticket": context.ticket,
        "configuration": context.setup.configuration,
        "is_shadow": context.setup.shadow,
        "attempt": context.attempts,
        "provider": attempt.provider,
        "model": attempt.model[:120],
        "prompt_version": context.prompt_version,
        "input_hash": context.input_hash,
        "request_redacted": _cap(attempt.request_record),
        "response_redacted": _cap(pii_redact_stored(attempt.content, context.mapping)),
        "high_stakes_probability": context.high_stakes_probability,
        "tokens_in": attempt.tokens_in,
        "tokens_out": attempt.tokens_out,
        "cost_usd": attempt.cost_usd,
        "latency_ms": attempt.latency_ms,
        "cache_hit": attempt.cache_hit,
    }


def attempt_record(context: PipelineContext, attempt: Attempt) -> TriageDecision:
    """A failed attempt (or a result that lost its claim): never final, always needs review."""
    return TriageDecision.objects.create(
        **_attempt_columns(context, attempt),
        **output_columns(attempt.output),
        needs_review=True,
        is_final=False,
        succeeded=False,
        fallback_reason=(("repair: " if attempt.repair else "") + attempt.error)[:200],
        error_class=attempt.error_class[:120],
        breaker_open=attempt.breaker_open,
    )


def final_decision_record(
    context: PipelineContext, winner: Attempt, *, output: TriageOutput, fields: dict[str, Any]
) -> TriageDecision:
    """The ticket's final decision from the winning attempt. Call inside the finalising
    transaction; ``fields`` carries what the checks and the policy decided."""
    assert winner.output is not None
    columns = _attempt_columns(context, winner) | output_columns(output) | {
        "is_final": True,
        "succeeded": True,
        "error_class": ("repaired: " + winner.error_class)[:120] if winner.repair else "",
    }
    return TriageDecision.objects.create(**(columns | fields))


def claim_lost(winner: Attempt) -> Attempt:
    winner.error_class = "ClaimLost"
    winner.error = "another worker re-claimed this ticket (swept as stuck); this result was not applied"
    return winner


def decision_summary(decision: TriageDecision) -> dict[str, Any]:
    """The operator's view of a decision (``triage_ticket --json``)."""
    ticket = decision.ticket
    return {
        "ticket_id": ticket.pk,
        "decision_id": decision.pk,
        "status": ticket.status,
        "provider": decision.provider,
        "model": decision.model,
        "prompt_version": decision.prompt_version,
        "category": decision.category_slug or None,
        "priority": decision.priority or None,
        "sentiment": decision.sentiment or None,
        "language": decision.language or None,
        "team": decision.team_slug or None,
        "confidence": decision.confidence,
        "high_stakes_probability": decision.high_stakes_probability,
        "needs_review": decision.needs_review,
        "review_reasons": list(decision.review_reasons),
        "risk_flags": list(decision.risk_flags),
        "citations": list(decision.citations),
        "tokens_in": decision.tokens_in,
        "tokens_out": decision.tokens_out,
        "cost_usd": float(Decimal(decision.cost_usd)),
        "latency_ms": decision.latency_ms,
        "cache_hit": decision.cache_hit,
        "fallback_reason": decision.fallback_reason or None,
        "attempts": ticket.triage_decisions.count(),
        "reply_draft": decision.reply_draft,
    }
