"""The decision log and the automation controls the triage worker reads and writes."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from support.models import Category, Ticket


class TriageDecisionQuerySet(models.QuerySet["TriageDecision"]):
    def final(self) -> TriageDecisionQuerySet:
        """The decisions that stand: at most one per ticket (a partial unique constraint)."""
        return self.filter(is_final=True)

    def attempts(self) -> TriageDecisionQuerySet:
        """Everything else: failed provider attempts, and finals an operator's re-run replaced."""
        return self.filter(is_final=False)

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
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.category_slug or '-'} for ticket {self.ticket_id}"


class Alert(models.Model):
    """Something a manager must know: budget exceeded, provider down, automation braked."""

    class Kind(models.TextChoices):
        BUDGET_EXCEEDED = "budget_exceeded", "Daily LLM budget exceeded"
        PROVIDER_DOWN = "provider_down", "Provider circuit open"
        AUTOMATION_BRAKED = "automation_braked", "Automation braked"
        SLA_BREACH = "sla_breach", "SLA breached"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True, help_text="One alert per day and cause.")
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"


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
