"""The steps every run shares, live or not: ask the deciding configuration's provider chain, and
ask the policy with that configuration's thresholds. The live run (``run``/``finalise``), a shadow
configuration's run (``shadow``) and an evaluation run (``triage.evaluation.running``) all call
these, so what is evaluated is what runs."""

from __future__ import annotations

from collections.abc import Callable

from support.models import Category, Team
from triage.pipeline.checks import CheckedOutput
from triage.pipeline.context import PipelineContext, PreparedRun
from triage.pipeline.validation import output_validate
from triage.policy import PolicyVerdict, policy_evaluate
from triage.providers.chain import Attempt, ChainResult, chain_run
from triage.schemas import TriageOutput


def chain_ask(prepared: PreparedRun, *, on_attempt: Callable[[Attempt], None], use_cache: bool = True) -> ChainResult:
    """The configuration's provider chain on the prepared request; every answer is validated
    against our own data, every failed attempt goes to ``on_attempt``."""

    def validate(raw: str) -> TriageOutput:
        return output_validate(raw, category_slugs=prepared.category_slugs, team_slugs=prepared.team_slugs)

    return chain_run(
        providers=prepared.context.setup.providers,
        request=prepared.request,
        validate=validate,
        repair_instruction=lambda error: prepared.prompt.render_repair(error=error),
        on_attempt=on_attempt,
        use_cache=use_cache,
    )


def verdict_for(
    context: PipelineContext,
    *,
    winner: Attempt,
    output: TriageOutput,
    checked: CheckedOutput,
    category: Category,
    team: Team | None,
    healthy: bool,
) -> PolicyVerdict:
    """The policy, with the thresholds of the configuration that decided, for the confidence of
    the provider that answered."""
    setup = context.setup
    return policy_evaluate(
        ticket=context.ticket,
        category=category,
        team=team,
        confidence=output.confidence,
        high_stakes_probability=context.high_stakes_probability,
        risk_flags=checked.risk_flags,
        chain_healthy=healthy,
        threshold_for=lambda candidate: setup.threshold_for(category=candidate, provider=winner.provider),
    )


def decision_fields(checked: CheckedOutput, verdict: PolicyVerdict, result: ChainResult) -> dict[str, object]:
    """The decision-log fields a checked answer and its verdict give, for the ticket's final
    decision and for a shadow configuration's alike."""
    return {
        "rationale": checked.rationale[:1000],
        "reply_draft": checked.draft if verdict.draft_allowed else "",
        "risk_flags": checked.risk_flags,
        "flag_details": checked.flag_details,
        "needs_review": not verdict.auto_send,
        "review_reasons": list(verdict.reasons),
        "fallback_reason": "; ".join(result.fallback_reasons)[:200],
    }
