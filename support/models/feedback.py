"""What customers tell us about replies: CSAT ratings."""

from __future__ import annotations

from django.db import models

from .outbound import OutboundMessage
from .tickets import Ticket


class CsatRating(models.Model):
    """What the customer thought of one reply: good or bad, and an optional comment.

    One row per reply (the latest click wins, so a mail scanner that follows a link first is
    corrected by the customer's own click). ``auto_sent`` says which path wrote the reply.
    """

    class Rating(models.TextChoices):
        GOOD = "good", "Good"
        BAD = "bad", "Bad"

    class Source(models.TextChoices):
        EMAIL_LINK = "email_link", "Link in the reply e-mail"
        API = "api", "Source system API"

    outbound = models.OneToOneField(OutboundMessage, on_delete=models.CASCADE, related_name="csat_rating")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="csat_ratings")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    auto_sent = models.BooleanField(help_text="The rated reply was sent without a human.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CSAT rating"

    def __str__(self) -> str:
        return f"{self.rating} for reply {self.outbound_id}"
