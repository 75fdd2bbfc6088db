"""Alerts raised for managers (SLA breaches, the automation brake, failed deliveries, drift)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Alert(models.Model):
    """Something a manager must know: budget exceeded, provider down, automation braked, replies
    that could not be delivered. It lives in the lowest layer so every app can raise one; its
    table keeps the name it was created with (``triage_alert``) when it lived in ``triage``."""

    class Kind(models.TextChoices):
        BUDGET_EXCEEDED = "budget_exceeded", "Daily LLM budget exceeded"
        PROVIDER_DOWN = "provider_down", "Provider circuit open"
        AUTOMATION_BRAKED = "automation_braked", "Automation braked"
        SLA_BREACH = "sla_breach", "SLA breached"
        DELIVERY_FAILED = "delivery_failed", "Reply delivery failed"
        ENCODER_UNAVAILABLE = "encoder_unavailable", "Sentence encoder unavailable"
        DRIFT = "drift", "Quality drift"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True, help_text="One alert per day and cause.")
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "triage_alert"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"
