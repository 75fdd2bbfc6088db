"""Customer satisfaction: a signed one-click rating link in every reply e-mail, and the rating.

The link carries a token signed with SECRET_KEY (``django.core.signing``) that names one reply
and its ticket: it cannot be forged, cannot rate another ticket's reply, and expires after
``CSAT_LINK_MAX_AGE_DAYS``. Clicking "good" or "bad" records the rating at once (one click); the
page then offers an optional comment. A source system can rate a reply through the API instead.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urljoin

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from support.models import CsatRating, OutboundMessage
from support.services import ticket_event_record

SALT = "switchboard.csat"
COMMENT_MAX_CHARS = 2000


class RatingRefused(Exception):
    """A bad, expired or foreign token, or a reply that cannot be rated; the message says which."""


def rating_token(*, outbound: OutboundMessage) -> str:
    return signing.dumps({"o": outbound.pk, "t": outbound.ticket_id}, salt=SALT, compress=True)


def rating_url(*, outbound: OutboundMessage, rating: str) -> str:
    path = reverse("csat-rate", kwargs={"token": rating_token(outbound=outbound), "rating": rating})
    return urljoin(settings.SITE_URL, path)


def rating_footer(*, outbound: OutboundMessage) -> str:
    """The lines appended to a reply e-mail (empty when CSAT is off or it is no customer reply)."""
    if not settings.CSAT_ENABLED or outbound.kind != OutboundMessage.Kind.EMAIL:
        return ""
    return (
        "\n\n--\nHow did we do? One click tells us:\n"
        f"Good: {rating_url(outbound=outbound, rating=CsatRating.Rating.GOOD)}\n"
        f"Bad: {rating_url(outbound=outbound, rating=CsatRating.Rating.BAD)}\n"
    )


def rating_token_read(token: str) -> OutboundMessage:
    """The reply a token names; ``RatingRefused`` when forged, expired or not a customer reply."""
    try:
        claims = signing.loads(
            token, salt=SALT, max_age=timedelta(days=settings.CSAT_LINK_MAX_AGE_DAYS)
        )
    except signing.SignatureExpired as exc:
        raise RatingRefused("This rating link has expired.") from exc
    except signing.BadSignature as exc:
        raise RatingRefused("This rating link is not valid.") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("o"), int) or not isinstance(claims.get("t"), int):
        raise RatingRefused("This rating link is not valid.")
    outbound = OutboundMessage.objects.filter(pk=claims["o"], ticket_id=claims["t"]).first()
    if outbound is None:
        raise RatingRefused("This rating link is not valid.")
    return outbound


def csat_record(*, outbound: OutboundMessage, rating: str, comment: str | None, source: str) -> CsatRating:
    """Store the customer's rating of one reply; a later rating of the same reply replaces it
    (``comment`` None keeps the earlier comment)."""
    if rating not in CsatRating.Rating.values:
        raise RatingRefused("A rating is good or bad.")
    if outbound.kind == OutboundMessage.Kind.NOTIFICATION:
        raise RatingRefused("Only replies to customers can be rated.")
    with transaction.atomic():
        defaults: dict[str, object] = {
            "ticket_id": outbound.ticket_id,
            "rating": rating,
            "source": source,
            "auto_sent": outbound.auto_submitted,
        }
        if comment is not None:
            defaults["comment"] = comment.strip()[:COMMENT_MAX_CHARS]
        row, created = CsatRating.objects.select_for_update().update_or_create(outbound=outbound, defaults=defaults)
        ticket_event_record(
            ticket=outbound.ticket,
            verb="csat_rated",
            actor_label="customer" if source == CsatRating.Source.EMAIL_LINK else "intake",
            after={"outbound_id": outbound.pk, "rating": rating, "source": source, "first": created},
        )
    return row
