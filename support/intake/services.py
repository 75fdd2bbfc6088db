"""Writes and checks behind the webhook API (the views in ``webhook.py`` only adapt HTTP)."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from support.models import Ticket, WebhookDelivery
from support.services import ticket_create

logger = logging.getLogger(__name__)


def webhook_delivery_find(*, source: str, webhook_id: str) -> Ticket | None:
    """The ticket an earlier delivery with this webhook-id created (replays, even days later)."""
    if not webhook_id:
        return None
    delivery = WebhookDelivery.objects.select_related("ticket").filter(source=source, webhook_id=webhook_id).first()
    return delivery.ticket if delivery is not None else None


def webhook_ticket_accept(*, source: str, webhook_id: str, data: dict[str, Any]) -> tuple[Ticket, bool]:
    """Create the ticket for a validated delivery, or return the one it already created.

    Idempotent twice over, both in the database: on ``(source, webhook_id)`` (``WebhookDelivery``)
    and on ``(source, external_id)`` (``Ticket``). Commits before returning, so the caller's 202
    never acknowledges a ticket that could still roll back; triage is dispatched after commit.
    """
    customer = data["customer"]
    try:
        with transaction.atomic():
            ticket, created = ticket_create(
                subject=data["subject"],
                body_text=data["body"],
                customer_email=customer["email"],
                customer_name=customer.get("name", ""),
                channel=Ticket.Channel.WEBHOOK,
                source=source,
                external_id=data["external_id"],
                callback_url=data.get("callback_url", ""),
                metadata=data.get("metadata") or {},
                actor_label=f"webhook:{source}"[:80],
            )
            if webhook_id:
                # No savepoint: a unique violation here must roll the ticket back with it.
                WebhookDelivery.objects.create(source=source, webhook_id=webhook_id, ticket=ticket)
    except IntegrityError:
        # A concurrent delivery with the same webhook-id but another external_id won: ours rolled
        # back entirely, and the sender gets the winner's ticket, as for any replay.
        existing = webhook_delivery_find(source=source, webhook_id=webhook_id)
        if existing is None:
            raise
        return existing, False
    return ticket, created


def rate_limit_retry_after(*, source: str, limit: int | None = None) -> int | None:
    """Count one request for ``source``; seconds to wait when over its per-minute limit, else None.

    ``limit`` is the source's own limit (``WebhookSource.rate_limit_per_minute``), else the
    setting applies. A fixed one-minute window in the cache (Redis in production). If the cache is down we let the
    request through: losing a ticket is worse than a burst.
    """
    limit = limit or settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    now = time.time()
    key = f"intake:rate:{source}:{int(now // 60)}"
    try:
        cache.add(key, 0, timeout=120)
        count = cache.incr(key)
    except Exception as exc:  # redis.ConnectionError and friends
        logger.warning("webhook rate limit skipped, cache unavailable: %s", exc)
        return None
    if count > limit:
        return max(1, 60 - int(now % 60))
    return None
