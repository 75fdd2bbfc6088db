"""Why a ticket waits for a human: every review-reason code and its label, in one table.

Codes are written by intake (a customer replied), triage (policy, checks), delivery (a reply
failed) and read by the review queue, the ticket page and the dashboards. Order matters: the
table lists them as a reviewer should read them, most important first.
"""

from __future__ import annotations

REASON_SENDER_UNVERIFIED = "sender_unverified"
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
REASON_CUSTOMER_REPLIED = "customer_replied"
REASON_DELIVERY_FAILED = "delivery_failed"
REASON_INJECTION_SUSPECTED = "injection_suspected"
REASON_REOPENED_BY_AGENT = "reopened_by_agent"

REASON_LABELS: dict[str, str] = {
    REASON_SENDER_UNVERIFIED: "Sender not authenticated: may not be who the From address says",
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
    REASON_CUSTOMER_REPLIED: "The customer replied to an answered ticket",
    REASON_DELIVERY_FAILED: "The reply could not be delivered",
    REASON_INJECTION_SUSPECTED: "Possible prompt injection in the ticket",
    REASON_REOPENED_BY_AGENT: "Reopened by an agent",
    "ungrounded": "Draft not grounded in the knowledge base",
    "legal_threat": "Legal threat",
    "security_fraud": "Security or fraud concern",
    "churn_risk": "Churn risk",
    "canary_leak": "Draft leaked the prompt canary",
    "unsafe_output": "Draft contains a link, address or secret it should not",
    "vulnerable_customer": "Possibly vulnerable customer",
    "complaint": "Complaint",
}


def reason_label(code: str) -> str:
    """The reviewer-facing label of a reason code; unknown codes are made readable."""
    return REASON_LABELS.get(code, code.replace("_", " ").capitalize())


def reason_choices() -> list[tuple[str, str]]:
    """(code, label) for every known reason, in reading order: the queue's reason filter."""
    return list(REASON_LABELS.items())


# Which reason a reviewer should read first when a ticket has several: what can hurt the
# customer or the company now, then what the ticket is about, then how confident the model was.
# "No calibrated threshold" sits on every ticket of a young category, so it ranks last.
REASON_RANK: tuple[str, ...] = (
    REASON_INJECTION_SUSPECTED,
    REASON_SENDER_UNVERIFIED,
    "canary_leak",
    "unsafe_output",
    "security_fraud",
    "legal_threat",
    "vulnerable_customer",
    REASON_DELIVERY_FAILED,
    REASON_CUSTOMER_REPLIED,
    REASON_REOPENED_BY_AGENT,
    REASON_HIGH_STAKES,
    REASON_HIGH_STAKES_LIKELY,
    "complaint",
    "churn_risk",
    REASON_VIP,
    REASON_AI_UNAVAILABLE,
    REASON_NO_CATEGORY,
    "ungrounded",
    REASON_LOW_CONFIDENCE,
    REASON_BRAKED,
    REASON_PROVIDER_DEGRADED,
    REASON_POLICY_ALWAYS_REVIEW,
    REASON_POLICY_DRAFT_ONLY,
    REASON_HIGH_STAKES_UNKNOWN,
    REASON_AUTO_SEND_DISABLED,
    REASON_NO_THRESHOLD,
)


def reasons_ranked(codes: list[str] | None) -> list[str]:
    """``codes`` most important first (``REASON_RANK``; unknown codes after the known ones, in
    their original order), without duplicates."""
    rank = {code: index for index, code in enumerate(REASON_RANK)}
    unique = list(dict.fromkeys(codes or []))
    return sorted(unique, key=lambda code: rank.get(code, len(rank)))
