"""How tickets reach us: webhook sources and deliveries, API tokens, inbound e-mail."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .tickets import Ticket

# Sources only the e-mail intake writes: no webhook source, secret or API token may use them, or
# its (source, external_id) keys would look up, or pre-empt, customers' e-mails (issue 13, point 3).
EMAIL_SOURCE = "email"
RESERVED_SOURCE_NAMES = frozenset({EMAIL_SOURCE})


class WebhookSource(models.Model):
    """A system allowed to POST tickets. Secrets may also come from WEBHOOK_SECRETS."""

    name = models.SlugField(max_length=80, unique=True)
    secrets = models.TextField(
        blank=True, help_text="One whsec_ secret per line; several are valid at once during a rotation."
    )
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(name__in=sorted(RESERVED_SOURCE_NAMES)),
                                   name="webhook_source_name_not_reserved"),
        ]

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
    """A bearer token for a trusted system. Only a hash is stored; the token is printed once.

    A token is bound to one ticket ``source``: it creates tickets under that source and reads or
    rates only that source's tickets (anything else is a 404)."""

    name = models.SlugField(max_length=80, unique=True)
    source = models.CharField(max_length=80, help_text="The ticket source this token writes and reads.")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(source__in=sorted(RESERVED_SOURCE_NAMES)),
                                   name="api_token_source_not_reserved"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class InboundEmail(models.Model):
    """Raw bytes of every e-mail we received, kept so nothing is lost and anything can be replayed."""

    class Status(models.TextChoices):
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (automated)"
        QUARANTINED = "quarantined", "Quarantined"

    class SenderAuth(models.TextChoices):
        PASS = "pass", "Sender authenticated"
        FAIL = "fail", "Sender authentication failed"
        NONE = "none", "No verdict"

    route = models.CharField(max_length=40, help_text="anymail:<esp>, file, imap")
    source_ref = models.CharField(max_length=500, blank=True, help_text="File name, mbox index or IMAP uid.")
    raw = models.BinaryField()
    sha256 = models.CharField(max_length=64, db_index=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.TextField(blank=True)
    sender_auth = models.CharField(max_length=4, choices=SenderAuth.choices, blank=True,
                                   help_text="The receiving MTA's or ESP's verdict on the From address.")
    sender_auth_detail = models.TextField(blank=True, help_text="The trusted Authentication-Results read.")
    esp_spam_detected = models.BooleanField(null=True, blank=True, help_text="The ESP's spam verdict, if it gave one.")
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_emails")
    received_at = models.DateTimeField(auto_now_add=True)
    reprocessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.route} {self.source_ref or self.message_id} ({self.status})"
