"""Writes on the human side: claim a ticket, decide on it, grade automation.

``claims`` (who works which ticket), ``decisions`` (what the agent decided, one ``ReviewOutcome``
per decision, in the transaction of its effect), ``audits`` (grades of auto-sent replies).
"""

from review.services.audits import review_audit_grade, review_automation_resume
from review.services.claims import (
    ClaimResult,
    review_claim,
    review_claim_next,
    review_claims_expire,
    review_heartbeat,
    review_release,
)
from review.services.decisions import (
    SNOOZE_CHOICES_MINUTES,
    reply_idempotency_key,
    review_approve,
    review_delivery_retry,
    review_escalate,
    review_override,
    review_reject,
    review_snooze,
)
from review.services.errors import ClaimHeldError, NotAwaitingReviewError, ReviewError

__all__ = [
    "SNOOZE_CHOICES_MINUTES",
    "ClaimHeldError",
    "ClaimResult",
    "NotAwaitingReviewError",
    "ReviewError",
    "reply_idempotency_key",
    "review_approve",
    "review_audit_grade",
    "review_automation_resume",
    "review_claim",
    "review_claim_next",
    "review_claims_expire",
    "review_delivery_retry",
    "review_escalate",
    "review_heartbeat",
    "review_override",
    "review_reject",
    "review_release",
    "review_snooze",
]
