"""Webhook tickets are answered with a signed callback: Standard Webhooks signature, the same
webhook-id on every retry, SSRF targets refused without retrying, and connections pinned to the
validated address. The receiver is a real HTTP server on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from support.delivery import outbound_reply_create
from support.models import OutboundMessage, Ticket
from tests.support.delivery_helpers import CallbackReceiver, ticket_with_inbound_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def send_reply(ticket: Ticket, capture, *, key: str = "review:cb:1") -> OutboundMessage:
    with capture(execute=True):
        with transaction.atomic():
            outbound, _ = outbound_reply_create(
                ticket=ticket,
                body_text="Refund issued.",
                created_by=None,
                auto_submitted=False,
                idempotency_key=key,
            )
    outbound.refresh_from_db()
    return outbound


def test_a_callback_is_signed_and_keeps_its_webhook_id_across_a_retry(
    receiver, settings, smtp_sink, django_capture_on_commit_callbacks
):
    settings.CALLBACK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver.statuses = [500, 200]
    ticket = ticket_with_inbound_email(callback_url=receiver.url)

    outbound = send_reply(ticket, django_capture_on_commit_callbacks)

    assert (outbound.kind, outbound.status, outbound.attempts) == ("callback", "sent", 2)
    assert len(receiver.requests) == 2
    verifier = Webhook(settings.CALLBACK_SIGNING_SECRET)
    payloads = [verifier.verify(request.body, request.headers) for request in receiver.requests]
    assert [request.headers["webhook-id"] for request in receiver.requests] == [
        "review:cb:1",
        "review:cb:1",
    ]
    assert receiver.requests[0].body == receiver.requests[1].body
    assert receiver.requests[0].path == "/switchboard/replies"
    assert payloads[0]["type"] == "ticket.reply"
    assert payloads[0]["data"]["ticket"]["reference"] == ticket.reference
    assert payloads[0]["data"]["reply"]["body_text"] == "Refund issued."
    assert smtp_sink.messages == []  # a webhook ticket is answered by callback only
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.REPLIED


def test_a_callback_signed_with_another_secret_does_not_verify(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.CALLBACK_ALLOWED_HOSTS = ["127.0.0.1"]
    ticket = ticket_with_inbound_email(callback_url=receiver.url)
    send_reply(ticket, django_capture_on_commit_callbacks)

    request = receiver.requests[0]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==").verify(
            request.body, request.headers
        )


def test_a_failing_callback_ends_failed_on_the_ticket(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.CALLBACK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.DELIVERY_MAX_ATTEMPTS = 3
    receiver.statuses = [500]
    ticket = ticket_with_inbound_email(callback_url=receiver.url)

    outbound = send_reply(ticket, django_capture_on_commit_callbacks)

    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.FAILED, 3)
    assert "HTTP 500" in outbound.last_error
    assert len(receiver.requests) == 3
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AWAITING_REVIEW
    assert "delivery_failed" in ticket.review_reasons
    assert ticket.events.filter(verb="delivery_failed").count() == 1


def test_a_loopback_callback_is_refused_without_retrying(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.CALLBACK_ALLOWED_HOSTS = []
    ticket = ticket_with_inbound_email(callback_url=receiver.url)

    outbound = send_reply(ticket, django_capture_on_commit_callbacks)

    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.FAILED, 1)
    assert "refused callback target" in outbound.last_error
    assert "loopback" in outbound.last_error
    assert receiver.requests == []
    assert ticket.events.filter(verb="delivery_failed").exists()


def test_the_request_goes_to_the_validated_address_with_the_original_host(
    receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # Given a receiver named hooks.customer.test (answered by our DNS stand-in at the network
    # boundary). The HTTP client must not resolve the name again: the connect goes to the
    # address that passed the check, so a rebinding DNS answer can't redirect it.
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def fake_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "hooks.customer.test":
            lookups.append(host)
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    settings.CALLBACK_ALLOWED_HOSTS = ["hooks.customer.test"]
    ticket = ticket_with_inbound_email(
        callback_url=f"http://hooks.customer.test:{receiver.port}/in"
    )

    outbound = send_reply(ticket, django_capture_on_commit_callbacks)

    assert outbound.status == OutboundMessage.Status.SENT
    assert lookups == ["hooks.customer.test"]  # resolved once, by the SSRF check
    assert receiver.requests[0].headers["host"] == f"hooks.customer.test:{receiver.port}"
    assert json.loads(receiver.requests[0].body)["data"]["idempotency_key"] == "review:cb:1"
