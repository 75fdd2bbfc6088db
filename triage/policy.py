"""The escalation policy: may this reply go out without a human, and if not, why not.

``policy_evaluate`` is a pure decision over what the triage pipeline already knows; it writes
nothing. Every condition that fails is listed, so a reviewer sees all the reasons at once, not
only the first one.

Threshold fallback (documented in docs/policy.md): a category without a calibrated
``auto_threshold`` stays on human review. We deliberately do NOT fall back to the local model's
training threshold: the confidence handed to the policy may come from an LLM whose self-reported
confidence is not calibrated on the scale that threshold was chosen on, and the issue says
"categories without enough evidence stay on human review".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings

from support.models import AutomationPolicy, Category, Team, Ticket

# Reason codes, in the order a reviewer should read them (most important first).
REASON_AI_UNAVAILABLE = "ai_unavailable"
REASON_NO_CATEGORY = "no_category"
REASON_HIGH_STAKES = "high_stakes"
REASON_HIGH_STAKES_LIKELY = "high_stakes_likely"
REASON_HIGH_STAKES_UNKNOWN = "high_stakes_unknown"
REASON_POLICY_ALWAYS_REVIEW = "policy_always_review"
REASON_POLICY_DRAFT_ONLY = "policy_draft_only"
REASON_NO_THRESHOLD = "no_calibrated_threshold"
REASON_LOW_CONFIDENCE = "low_confidence"
REASON_VIP = "vip_customer"
REASON_BRAKED = "category_braked"
REASON_PROVIDER_DEGRADED = "provider_degraded"
REASON_AUTO_SEND_DISABLED = "auto_send_disabled"

REASON_LABELS: dict[str, str] = {
    REASON_AI_UNAVAILABLE: "No AI decision (provider unavailable or invalid output)",
    REASON_NO_CATEGORY: "No known category",
    REASON_HIGH_STAKES: "High-stakes category: always reviewed by a human",
    REASON_HIGH_STAKES_LIKELY: "The model gives a high-stakes category too much probability",
    REASON_HIGH_STAKES_UNKNOWN: "High-stakes probability unknown (no local model)",
    REASON_POLICY_ALWAYS_REVIEW: "Policy: always review",
    REASON_POLICY_DRAFT_ONLY: "Policy: classify and route only",
    REASON_NO_THRESHOLD: "No calibrated confidence threshold for this category yet",
    REASON_LOW_CONFIDENCE: "Confidence below the category's threshold",
    REASON_VIP: "VIP customer",
    REASON_BRAKED: "Automation braked for this category",
    REASON_PROVIDER_DEGRADED: "Provider chain degraded",
    REASON_AUTO_SEND_DISABLED: "Auto-send disabled (AUTO_SEND_ENABLED=false)",
    "injection_suspected": "Possible prompt injection in the ticket",
    "ungrounded": "Draft not grounded in the knowledge base",
    "legal_threat": "Legal threat",
    "security_fraud": "Security or fraud concern",
    "churn_risk": "Churn risk",
    "canary_leak": "Draft leaked the prompt canary",
    "unsafe_output": "Draft contains a link, address or secret it should not",
    "vulnerable_customer": "Possibly vulnerable customer",
    "complaint": "Complaint",
}


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason.replace("_", " ").capitalize())


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
) -> PolicyVerdict:
    """Decide auto-send vs human review. Auto-send only when every condition holds."""
    policy = effective_policy(category=category, team=team)
    reasons: list[str] = []

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
        if category.auto_threshold is None:
            reasons.append(REASON_NO_THRESHOLD)
        elif confidence < category.auto_threshold:
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
