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


class DriftCheckResult(models.Model):
    """One drift check's verdict at one run (review/monitoring/, docs/drift.md). Append-only: the
    dashboard plots ``statistic`` over ``run_at`` against ``threshold``, /metrics shows the latest."""

    run_at = models.DateTimeField(db_index=True, help_text="When the run started; shared by every check of the run.")
    check_name = models.CharField(max_length=40)
    test = models.CharField(max_length=80, help_text="The statistical test, e.g. 'PSI + chi-square'.")
    statistic = models.FloatField(null=True, blank=True, help_text="None when a side had too few samples.")
    threshold = models.FloatField()
    p_value = models.FloatField(null=True, blank=True)
    breached = models.BooleanField(default=False)
    reference_start = models.DateTimeField()
    reference_end = models.DateTimeField()
    recent_start = models.DateTimeField()
    recent_end = models.DateTimeField()
    reference_count = models.PositiveIntegerField(default=0)
    recent_count = models.PositiveIntegerField(default=0)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run_at", "check_name"]
        constraints = [
            models.UniqueConstraint(fields=["run_at", "check_name"], name="review_drift_one_result_per_check_and_run"),
        ]
        indexes = [models.Index(fields=["check_name", "run_at"], name="review_drift_check_run_idx")]

    def __str__(self) -> str:
        verdict = "BREACHED" if self.breached else "ok"
        return f"{self.check_name}@{self.run_at:%Y-%m-%d %H:%M}: {self.statistic} vs {self.threshold} {verdict}"
