"""The decision log and the automation controls the triage worker reads and writes."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from support.models import Category, Ticket
from triage.configuration.models import ConfigurationEvent, PromptVersion, TriageConfiguration
from triage.evaluation.models import EvalCase, EvalResult, EvalRun, EvalSet

__all__ = [
    "AutomationEvent",
    "ConfigurationEvent",
    "EvalCase",
    "EvalResult",
    "EvalRun",
    "EvalSet",
    "PromptVersion",
    "TriageConfiguration",
    "TriageDecision",
]


class TriageDecisionQuerySet(models.QuerySet["TriageDecision"]):
    def final(self) -> TriageDecisionQuerySet:
        """The decisions that stand: at most one per ticket (a partial unique constraint)."""
        return self.filter(is_final=True)

    def attempts(self) -> TriageDecisionQuerySet:
        """Everything else: failed provider attempts, finals an operator's re-run replaced, and a
        shadow configuration's decisions (never final, never sent)."""
        return self.filter(is_final=False)

    def shadow(self) -> TriageDecisionQuerySet:
        return self.filter(is_shadow=True)

    def final_for(self, *, ticket_id: int) -> TriageDecision | None:
        """The ticket's final decision, or None while it has none (new, triaging)."""
        return self.final().filter(ticket_id=ticket_id).first()


class TriageDecision(models.Model):
    """The decision log: one row per attempt to triage a ticket, append-only.

    Two kinds of row, told apart by ``is_final`` (see ``TriageDecisionQuerySet``): *attempts*
    (a provider that failed, a claim that was lost: ``succeeded`` False) and the *final decision*
    the ticket's state was set from, at most one per ticket.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="triage_decisions")
    # The configuration that made this decision. Null: made from settings, with no production
    # configuration (a fresh install, and every row written before configurations existed).
    configuration = models.ForeignKey(
        TriageConfiguration, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    # A shadow configuration's decision: stored for comparison, never final, never sent.
    is_shadow = models.BooleanField(default=False)
    attempt = models.PositiveIntegerField(default=1)
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, blank=True)
    prompt_version = models.CharField(max_length=80, blank=True)
    input_hash = models.CharField(max_length=64, blank=True, db_index=True)
    request_redacted = models.TextField(blank=True)
    response_redacted = models.TextField(blank=True)

    category_slug = models.CharField(max_length=80, blank=True)
    priority = models.CharField(max_length=10, blank=True)
    sentiment = models.CharField(max_length=16, blank=True)
    language = models.CharField(max_length=8, blank=True)
    team_slug = models.CharField(max_length=80, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    # The probability mass the model put on any high-stakes category, not only the top label.
    high_stakes_probability = models.FloatField(null=True, blank=True)
    reply_draft = models.TextField(blank=True)
    citations = models.JSONField(default=list, blank=True)
    risk_flags = models.JSONField(default=list, blank=True)
    # {"flag": "injection_suspected", "evidence": ["ignore previous instructions"]} and such.
    flag_details = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)

    needs_review = models.BooleanField(default=True)
    review_reasons = models.JSONField(default=list, blank=True)
    is_final = models.BooleanField(default=False)
    succeeded = models.BooleanField(default=False)

    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cache_hit = models.BooleanField(default=False)
    fallback_reason = models.CharField(max_length=200, blank=True)
    # A failed attempt's own error (RateLimitError, APITimeoutError, OutputInvalid...), never the
    # breaker; when the breaker skipped the call, the error that opened it.
    error_class = models.CharField(max_length=120, blank=True)
    # The provider's circuit breaker was open when this attempt ended (it opened on this failure,
    # or the call was skipped because of it).
    breaker_open = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = TriageDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One final decision per ticket: a redelivered task cannot write a second one.
            models.UniqueConstraint(
                fields=["ticket"], condition=models.Q(is_final=True), name="triage_one_final_decision"
            ),
            models.CheckConstraint(
                condition=~(models.Q(is_shadow=True) & models.Q(is_final=True)), name="triage_shadow_never_final"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.category_slug or '-'} for ticket {self.ticket_id}"


class AutomationEvent(models.Model):
    """Audit trail of automation controls: thresholds calibrated, brake engaged, brake released."""

    class Verb(models.TextChoices):
        THRESHOLD_SET = "threshold_set", "Threshold calibrated"
        BRAKED = "braked", "Automation braked"
        RESUMED = "resumed", "Automation resumed"

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="automation_events")
    verb = models.CharField(max_length=20, choices=Verb.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.verb} {self.category_id}"
