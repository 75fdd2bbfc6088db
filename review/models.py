"""What reviewers decided: the ground truth that calibration, audits and drift analysis read."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from support.models import OutboundMessage, Ticket
from triage.models import TriageDecision


class ReviewOutcome(models.Model):
    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved & sent"
        REJECTED = "rejected", "Rejected"
        OVERRIDDEN = "overridden", "Overrode classification"
        ESCALATED = "escalated", "Escalated to a manager"
        SNOOZED = "snoozed", "Snoozed"

    class Reason(models.TextChoices):
        WRONG_CATEGORY = "wrong_category", "Wrong category"
        WRONG_FACTS = "wrong_facts", "Wrong facts"
        TONE = "tone", "Tone"
        POLICY = "policy", "Policy"
        HALLUCINATION = "hallucination", "Hallucination"
        INJECTION = "injection", "Injection"
        OTHER = "other", "Other"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="review_outcomes")
    decision = models.ForeignKey(
        TriageDecision, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_outcomes"
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_outcomes")
    verdict = models.CharField(max_length=12, choices=Decision.choices)
    # {"category": {"old": "card_arrival", "new": "lost_or_stolen_card"}, ...}
    overrides = models.JSONField(default=dict, blank=True)
    ai_category_slug = models.CharField(max_length=80, blank=True)
    final_category_slug = models.CharField(max_length=80, blank=True)
    draft_text = models.TextField(blank=True)
    sent_text = models.TextField(blank=True)
    edit_distance = models.FloatField(null=True, blank=True, help_text="Normalised 0..1, draft vs sent.")
    reason_code = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    note = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True, db_index=True)
    seconds_to_decision = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.verdict} on ticket {self.ticket_id} by {self.reviewer}"


class AuditSample(models.Model):
    """An automatically sent reply picked for a human to grade after the fact."""

    class Grade(models.TextChoices):
        CORRECT = "correct", "Correct"
        INCORRECT = "incorrect", "Incorrect"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="audit_samples")
    outbound = models.OneToOneField(OutboundMessage, on_delete=models.CASCADE, related_name="audit_sample")
    decision = models.ForeignKey(TriageDecision, null=True, blank=True, on_delete=models.SET_NULL)
    category_slug = models.CharField(max_length=80, db_index=True)
    grade = models.CharField(max_length=10, choices=Grade.choices, blank=True)
    reason_code = models.CharField(max_length=20, choices=ReviewOutcome.Reason.choices, blank=True)
    graded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    graded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"audit of ticket {self.ticket_id}: {self.grade or 'ungraded'}"


class Macro(models.Model):
    """A shared canned reply. ``body`` may hold the variables ``review.macros.MACRO_VARIABLES``
    (``{customer_name}``, ``{ticket_reference}``, ``{agent_name}``), filled in by the server when an
    agent inserts it into a reply."""

    name = models.CharField(max_length=120, unique=True)
    body = models.TextField(
        help_text="Variables: {customer_name}, {ticket_reference}, {agent_name}."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
