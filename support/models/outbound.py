"""What we send back: the outbox row behind every reply."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .tickets import Message, Ticket


class OutboundMessage(models.Model):
    """The outbox: one row per reply we owe somebody, written in the transaction that decided it."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        CALLBACK = "callback", "Webhook callback"
        NOTIFICATION = "notification", "Team notification"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="outbound_messages")
    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Same key across retries; a second "Approve & send" for the same draft collides here.
    idempotency_key = models.CharField(max_length=120, unique=True)
    to_address = models.CharField(max_length=2000, help_text="E-mail address or callback URL.")
    subject = models.CharField(max_length=998, blank=True)
    body_text = models.TextField()
    email_message_id = models.CharField(max_length=998, blank=True, help_text="Our Message-ID header.")
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    auto_submitted = models.BooleanField(default=False, help_text="Sent without a human.")
    attempts = models.PositiveIntegerField(default=0)
    # Times the sweeper re-armed this row after a later delivery on its channel succeeded.
    auto_retries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address} ({self.status})"
