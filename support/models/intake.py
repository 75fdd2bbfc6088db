"""How tickets reach us: webhook sources and deliveries, API tokens, inbound e-mail."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .tickets import Ticket


class WebhookSource(models.Model):
    """A system allowed to POST tickets. Secrets may also come from WEBHOOK_SECRETS."""

    name = models.SlugField(max_length=80, unique=True)
    secrets = models.TextField(
        blank=True, help_text="One whsec_ secret per line; several are valid at once during a rotation."
    )
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """Every accepted webhook-id, forever: senders retry for days, so a cache would forget."""

    source = models.CharField(max_length=80)
    webhook_id = models.CharField(max_length=255)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="webhook_deliveries")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "webhook_id"], name="webhook_delivery_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.webhook_id} → ticket {self.ticket_id}"


class ApiToken(models.Model):
    """A bearer token for a trusted system. Only a hash is stored; the token is printed once."""

    name = models.SlugField(max_length=80, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class InboundEmail(models.Model):
    """Raw bytes of every e-mail we received, kept so nothing is lost and anything can be replayed."""

    class Status(models.TextChoices):
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (automated)"
        QUARANTINED = "quarantined", "Quarantined"

    route = models.CharField(max_length=40, help_text="anymail:<esp>, file, imap")
    source_ref = models.CharField(max_length=500, blank=True, help_text="File name, mbox index or IMAP uid.")
    raw = models.BinaryField()
    sha256 = models.CharField(max_length=64, db_index=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.TextField(blank=True)
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_emails")
    received_at = models.DateTimeField(auto_now_add=True)
    reprocessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.route} {self.source_ref or self.message_id} ({self.status})"
