"""Service levels: the policy per priority and the breaches recorded against it."""

from __future__ import annotations

from django.db import models

from .organisation import Priority
from .tickets import Ticket


class SlaPolicy(models.Model):
    priority = models.CharField(max_length=10, choices=Priority.choices, unique=True)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    at_risk_fraction = models.FloatField(
        default=0.8, help_text="Escalate when this share of the first-response time has passed."
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"{self.priority}: {self.first_response_minutes}m / {self.resolution_minutes}m"


class SlaBreach(models.Model):
    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        RESOLUTION = "resolution", "Resolution"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_breaches")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    due_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "kind"], name="sla_breach_once_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind} breach on ticket {self.ticket_id}"
