"""Durability: a ticket is committed before the 202, and triage reaches it exactly once even when
the broker was unreachable at intake (the sweeper sends it when Redis is back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from support.celery import app as celery_app
from support.intake.email_ingest import email_ingest
from support.models import Ticket
from support.services import dispatch_pending
from tests.conftest import wait_for
from tests.support.test_webhook import SECRET, payload, signed_headers
from triage.models import TriageDecision

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: like a stopped Redis


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Point the publishing side at a dead port. The shared Redis server itself stays up (other
    engineers' tests use it); only this process loses its way to the broker."""
    real = celery_app.conf.broker_url
    _reset_producer_pool()
    celery_app.conf.broker_url = DEAD_BROKER
    try:
        yield
    finally:
        celery_app.conf.broker_url = real
        _reset_producer_pool()


def _reset_producer_pool() -> None:
    # The app caches its producer pool for the broker it first saw; forget it (as Celery does after
    # a fork) so the next publish looks at broker_url again. kombu keeps one pool per broker URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.mark.worker
@pytest.mark.postgres
def test_a_webhook_accepted_while_redis_is_down_is_triaged_once_when_it_is_back(
        client: Any, settings: Any, celery_worker: Any, demo_tenant: Any) -> None:
    settings.WEBHOOK_SECRETS = {"shop": [SECRET]}
    body = json.dumps(payload(external_id="while-redis-down")).encode()

    # Given the broker is unreachable, the delivery is still accepted and committed
    with broker_unreachable():
        response = client.post("/api/v1/tickets", data=body, content_type="application/json",
                               headers=signed_headers(body, webhook_id="msg_redis_down"))
    assert response.status_code == 202
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert ticket.status == Ticket.Status.NEW and ticket.triage_dispatched_at is None
    assert not TriageDecision.objects.filter(ticket=ticket).exists()

    # When Redis is reachable again and the sweeper runs (twice, as beat would)
    sent = dispatch_pending(older_than_seconds=0)
    assert sent == 1

    # Then the real worker triages the ticket, exactly once
    wait_for(lambda: TriageDecision.objects.filter(ticket=ticket, is_final=True).exists())
    dispatch_pending(older_than_seconds=0)
    ticket.refresh_from_db()
    assert ticket.status not in {Ticket.Status.NEW, Ticket.Status.TRIAGING}
    assert TriageDecision.objects.filter(ticket=ticket, is_final=True).count() == 1


@pytest.mark.worker
@pytest.mark.postgres
def test_an_email_ingested_while_redis_is_down_is_kept_and_swept_later(settings: Any, celery_worker: Any,
                                                                        demo_tenant: Any) -> None:
    raw = (b"From: Ada <ada@example.com>\r\nSubject: Card\r\nMessage-ID: <redis-down@example.com>\r\n\r\n"
           b"Where is my card?\r\n")
    with broker_unreachable():
        result = email_ingest(raw=raw, route="file", source_ref="redis-down.eml")
    assert result.outcome == "created"
    assert Ticket.objects.get(pk=result.ticket_id).triage_dispatched_at is None

    assert dispatch_pending(older_than_seconds=0) == 1
    wait_for(lambda: TriageDecision.objects.filter(ticket_id=result.ticket_id, is_final=True).exists())
    assert TriageDecision.objects.filter(ticket_id=result.ticket_id).count() == 1


@pytest.mark.django_db
def test_the_webhook_still_accepts_when_the_rate_limit_cache_is_down(client: Any, settings: Any) -> None:
    settings.WEBHOOK_SECRETS = {"shop": [SECRET]}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": DEAD_BROKER}}
    body = json.dumps(payload(external_id="cache-down")).encode()
    response = client.post("/api/v1/tickets", data=body, content_type="application/json",
                           headers=signed_headers(body))
    assert response.status_code == 202
    assert Ticket.objects.filter(external_id="cache-down").exists()
