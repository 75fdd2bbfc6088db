"""The escalation policy: may this reply go out without a human, and if not, why not.

``policy_evaluate`` is a pure decision over what the triage pipeline already knows; it writes
nothing. Every condition that fails is listed, so a reviewer sees all the reasons at once, not
only the first one.

Threshold fallback (documented in docs/policy.md): a category without a calibrated threshold
(the deciding configuration's, see ``triage.configuration.runtime``; ``Category.auto_threshold``
when no configuration is in production) stays on human review. We deliberately do NOT fall back to the local model's
training threshold: the confidence handed to the policy may come from an LLM whose self-reported
confidence is not calibrated on the scale that threshold was chosen on, and the issue says
"categories without enough evidence stay on human review".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from support.models import AutomationPolicy, Category, Team, Ticket
from support.reasons import (
    REASON_AI_UNAVAILABLE,
    REASON_AUTO_SEND_DISABLED,
    REASON_BRAKED,
    REASON_HIGH_STAKES,
    REASON_HIGH_STAKES_LIKELY,
    REASON_HIGH_STAKES_UNKNOWN,
    REASON_LOW_CONFIDENCE,
    REASON_NO_CATEGORY,
    REASON_NO_THRESHOLD,
    REASON_POLICY_ALWAYS_REVIEW,
    REASON_POLICY_DRAFT_ONLY,
    REASON_PROVIDER_DEGRADED,
    REASON_SENDER_UNVERIFIED,
    REASON_VIP,
)


@dataclass(frozen=True)
class PolicyVerdict:
    auto_send: bool
    draft_allowed: bool
    reasons: list[str] = field(default_factory=list)
    policy: str = AutomationPolicy.ALWAYS_REVIEW


def effective_policy(*, category: Category | None, team: Team | None) -> str:
    """The team's policy when it sets one, else the category's; no category means review."""
    if team is not None and team.automation_policy:
        return str(team.automation_policy)
    if category is not None:
        return str(category.automation_policy)
    return str(AutomationPolicy.ALWAYS_REVIEW)


def policy_evaluate(
    *,
    ticket: Ticket,
    category: Category | None,
    team: Team | None,
    confidence: float | None,
    high_stakes_probability: float | None,
    risk_flags: Sequence[str],
    chain_healthy: bool,
    threshold_for: Callable[[Category], float | None] | None = None,
) -> PolicyVerdict:
    """Decide auto-send vs human review. Auto-send only when every condition holds.

    ``threshold_for`` gives the deciding configuration's threshold for a category (None: no
    threshold applies, a human reviews); without it, ``Category.auto_threshold`` (settings mode)."""
    policy = effective_policy(category=category, team=team)
    reasons: list[str] = []

    # Intake could not vouch for the sender (support/intake/sender_auth.py): never answer a
    # possibly forged message automatically, whatever the model thinks of it. The metadata mark
    # outlives a reviewer editing the reasons; the reason covers tickets marked before triage.
    if ticket.metadata.get(REASON_SENDER_UNVERIFIED) or REASON_SENDER_UNVERIFIED in (ticket.review_reasons or []):
        reasons.append(REASON_SENDER_UNVERIFIED)

    if confidence is None:
        reasons.append(REASON_AI_UNAVAILABLE)
    if category is None:
        reasons.append(REASON_NO_CATEGORY)
    elif category.high_stakes:
        reasons.append(REASON_HIGH_STAKES)
    # Weigh the probability of ANY high-stakes category, not only the top label: a lost-card
    # ticket filed under a harmless category must still reach a human.
    if high_stakes_probability is None:
        reasons.append(REASON_HIGH_STAKES_UNKNOWN)
    elif high_stakes_probability > settings.HIGH_STAKES_PROBABILITY_LIMIT:
        reasons.append(REASON_HIGH_STAKES_LIKELY)

    if policy == AutomationPolicy.ALWAYS_REVIEW:
        reasons.append(REASON_POLICY_ALWAYS_REVIEW)
    elif policy == AutomationPolicy.DRAFT_ONLY:
        reasons.append(REASON_POLICY_DRAFT_ONLY)

    if category is not None and confidence is not None:
        threshold = threshold_for(category) if threshold_for is not None else category.auto_threshold
        if threshold is None:
            reasons.append(REASON_NO_THRESHOLD)
        elif confidence < threshold:
            reasons.append(REASON_LOW_CONFIDENCE)

    for flag in risk_flags:
        # Every risk flag blocks auto-send; unknown flags too (fail towards a human).
        if flag and flag not in reasons:
            reasons.append(flag)

    if ticket.customer.vip:
        reasons.append(REASON_VIP)
    if category is not None and category.braked:
        reasons.append(REASON_BRAKED)
    if not chain_healthy:
        reasons.append(REASON_PROVIDER_DEGRADED)
    if not settings.AUTO_SEND_ENABLED:
        reasons.append(REASON_AUTO_SEND_DISABLED)

    return PolicyVerdict(
        auto_send=not reasons,
        draft_allowed=policy != AutomationPolicy.DRAFT_ONLY,
        reasons=reasons,
        policy=policy,
    )
