"""POST /api/v1/tickets: Standard Webhooks signatures (the real library), replays, limits, errors."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook

from support.models import Ticket, WebhookDelivery, WebhookSource

URL = "/api/v1/tickets"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


SECRET = new_secret()
SECRET_NEXT = new_secret()


def payload(external_id: str = "order-1", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_id": external_id,
        "subject": "Card not arrived",
        "body": "My card still has not arrived after two weeks.",
        "customer": {"email": "Ada@Example.com", "name": "Ada Lovelace"},
        "callback_url": "https://shop.example.com/hooks/switchboard",
        "metadata": {"order": 1234, "tags": ["vip-candidate"]},
    }
    data.update(overrides)
    return data


def signed_headers(body: bytes, *, secret: str = SECRET, webhook_id: str | None = None,
                   when: datetime | None = None) -> dict[str, str]:
    """Headers exactly as a Standard Webhooks sender builds them, with the reference library."""
    webhook_id = webhook_id or f"msg_{secrets.token_hex(8)}"
    when = when or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id=webhook_id, timestamp=when, data=body.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature}


def post(client: Any, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(URL, data=body, content_type="application/json", headers=headers)


@pytest.fixture(autouse=True)
def _sources(settings: Any) -> None:
    settings.WEBHOOK_SECRETS = {"shop": [SECRET]}


def as_body(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.mark.django_db
def test_it_creates_a_ticket_for_a_signed_delivery(client):
    body = as_body(payload())
    response = post(client, body, signed_headers(body, webhook_id="msg_1"))

    assert response.status_code == 202
    ticket = Ticket.objects.get()
    assert response.json() == {"id": ticket.pk, "status": "new"}
    assert (ticket.source, ticket.external_id, ticket.channel) == ("shop", "order-1", "webhook")
    assert ticket.customer.email == "ada@example.com"
    assert ticket.callback_url == "https://shop.example.com/hooks/switchboard"
    assert ticket.metadata == {"order": 1234, "tags": ["vip-candidate"]}
    assert ticket.messages.get().body_text.startswith("My card")
    assert WebhookDelivery.objects.filter(source="shop", webhook_id="msg_1", ticket=ticket).exists()


@pytest.mark.django_db
def test_an_immediate_replay_of_the_same_webhook_id_returns_200_and_the_same_ticket(client):
    body = as_body(payload())
    headers = signed_headers(body, webhook_id="msg_replay")
    first = post(client, body, headers)
    again = post(client, body, headers)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_replay_days_later_returns_the_same_ticket(client):
    # Given a delivery accepted on Monday
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    body = as_body(payload())
    with time_machine.travel(start, tick=False):
        first = post(client, body, signed_headers(body, webhook_id="msg_days"))
    assert first.status_code == 202

    # When the sender retries three days later (fresh timestamp, same webhook-id), and also sends
    # the same external_id under a brand new webhook-id
    with time_machine.travel(start + timedelta(days=3), tick=False):
        same_id = post(client, body, signed_headers(body, webhook_id="msg_days"))
        same_external = post(client, body, signed_headers(body, webhook_id="msg_other"))

    # Then nothing new exists: the database remembers, not a cache
    assert (same_id.status_code, same_external.status_code) == (200, 200)
    assert same_id.json()["id"] == same_external.json()["id"] == first.json()["id"]
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_replay_with_the_old_timestamp_days_later_is_refused_as_stale(client):
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    body = as_body(payload())
    with time_machine.travel(start, tick=False):
        headers = signed_headers(body, webhook_id="msg_stale_replay")
        assert post(client, body, headers).status_code == 202
    with time_machine.travel(start + timedelta(days=2), tick=False):
        assert post(client, body, headers).status_code == 401


@pytest.mark.django_db
def test_a_tampered_body_is_refused(client):
    body = as_body(payload())
    headers = signed_headers(body)
    tampered = body.replace(b"Card not arrived", b"Card not arrivee")
    response = post(client, tampered, headers)
    assert response.status_code == 401
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda h: h.pop("webhook-signature"), id="missing-signature"),
        pytest.param(lambda h: h.pop("webhook-id"), id="missing-id"),
        pytest.param(lambda h: h.pop("webhook-timestamp"), id="missing-timestamp"),
        pytest.param(lambda h: h.update({"webhook-signature": "v1,!!!not-base64!!!"}), id="garbage-signature"),
        pytest.param(lambda h: h.update({"webhook-signature": "nocomma"}), id="no-version"),
        pytest.param(lambda h: h.update({"webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}),
                     id="wrong-version"),
        pytest.param(lambda h: h.update({"webhook-timestamp": "yesterday"}), id="timestamp-not-a-number"),
        pytest.param(lambda h: h.update({"webhook-timestamp": "nan"}), id="timestamp-nan"),
        pytest.param(lambda h: h.update({"webhook-id": "msg_different"}), id="id-not-signed"),
    ],
)
def test_a_bad_signature_header_is_refused(client, mutate):
    body = as_body(payload())
    headers = signed_headers(body)
    mutate(headers)
    response = post(client, body, headers)
    assert response.status_code == 401
    assert "detail" in response.json()
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)], ids=["old", "future"])
def test_a_timestamp_outside_five_minutes_is_refused(client, offset):
    body = as_body(payload())
    headers = signed_headers(body, when=datetime.now(tz=UTC) + offset)
    assert post(client, body, headers).status_code == 401


@pytest.mark.django_db
def test_a_timestamp_inside_the_tolerance_is_accepted(client):
    body = as_body(payload())
    headers = signed_headers(body, when=datetime.now(tz=UTC) - timedelta(minutes=4))
    assert post(client, body, headers).status_code == 202


@pytest.mark.django_db
def test_both_secrets_are_valid_during_a_rotation(client, settings):
    settings.WEBHOOK_SECRETS = {"shop": [SECRET, SECRET_NEXT]}
    for index, secret in enumerate([SECRET, SECRET_NEXT]):
        body = as_body(payload(external_id=f"rot-{index}"))
        assert post(client, body, signed_headers(body, secret=secret)).status_code == 202

    settings.WEBHOOK_SECRETS = {"shop": [SECRET_NEXT]}  # rotation finished: the old one is gone
    body = as_body(payload(external_id="rot-old"))
    assert post(client, body, signed_headers(body, secret=SECRET)).status_code == 401


@pytest.mark.django_db
def test_secrets_managed_in_the_admin_work_and_a_disabled_source_is_refused(client, settings):
    settings.WEBHOOK_SECRETS = {}
    admin_secret = new_secret()
    source = WebhookSource.objects.create(name="crm", secrets=f"\n{admin_secret}\n")
    body = as_body(payload(external_id="crm-1"))
    response = post(client, body, signed_headers(body, secret=admin_secret))
    assert response.status_code == 202
    assert Ticket.objects.get().source == "crm"

    source.is_active = False
    source.save()
    body = as_body(payload(external_id="crm-2"))
    assert post(client, body, signed_headers(body, secret=admin_secret)).status_code == 401


@pytest.mark.django_db
def test_an_oversize_body_is_refused_with_413_before_anything_else(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048
    body = as_body(payload(body="x" * 5000))
    # Unsigned on purpose: the size check comes first, nothing is parsed or verified.
    response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 413
    signed = post(client, body, signed_headers(body))
    assert signed.status_code == 413
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
def test_a_body_at_the_limit_is_accepted(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 4096
    base = as_body(payload(body=""))
    body = as_body(payload(body="y" * (4096 - len(base))))
    assert len(body) == 4096
    assert post(client, body, signed_headers(body)).status_code == 202


@pytest.mark.django_db
def test_invalid_json_is_a_400(client):
    body = b'{"external_id": "x", "subject": '
    response = post(client, body, signed_headers(body))
    assert response.status_code == 400
    assert "body" in response.json()["errors"]


@pytest.mark.django_db
def test_every_field_error_is_named(client):
    body = as_body({
        "external_id": "",
        "body": "   ",
        "customer": {"email": "not-an-email"},
        "callback_url": "ftp:/nope",
        "metadata": ["not", "an", "object"],
    })
    response = post(client, body, signed_headers(body))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"external_id", "subject", "body", "customer", "callback_url", "metadata"}
    assert "email" in errors["customer"]
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b'{"external_id": "n1", "subject": "s", "body": "b", "customer": {"email": "a@example.com"},'
        b' "metadata": {"k": "nul\\u0000byte"}}',
        b'{"external_id": "n2", "subject": "lone \\ud800 surrogate", "body": "b",'
        b' "customer": {"email": "a@example.com"}}',
        b'{"external_id": "n3", "subject": "s", "body": "b", "customer": {"email": "a@example.com"},'
        b' "metadata": {"n": NaN}}',
        b'{"external_id": "n4", "subject": "s", "body": "b", "customer": {"email": "a@example.com"},'
        b' "metadata": {"n": 1e999}}',
        b'{"external_id": "n5", "subject": "s", "body": "b", "customer": {"email": "a@example.com"},'
        b' "metadata": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
        b"[" * 100_000,
    ],
    ids=["nul-in-metadata", "lone-surrogate", "nan", "infinity", "deep-metadata", "deep-array"],
)
def test_input_the_database_cannot_store_is_a_400_not_a_500(client, raw):
    response = post(client, raw, signed_headers(raw))
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
def test_the_rate_limit_is_per_source_with_retry_after(client, settings):
    other = new_secret()
    settings.WEBHOOK_SECRETS = {"shop": [SECRET], "crm": [other]}
    WebhookSource.objects.create(name="shop", secrets=SECRET, rate_limit_per_minute=2)
    codes = []
    for index in range(3):
        body = as_body(payload(external_id=f"rl-{index}"))
        response = post(client, body, signed_headers(body))
        codes.append(response.status_code)
    assert codes == [202, 202, 429]
    assert 1 <= int(response.headers["Retry-After"]) <= 60

    body = as_body(payload(external_id="crm-rl"))
    assert post(client, body, signed_headers(body, secret=other)).status_code == 202


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_webhook_id", [True, False], ids=["same-webhook-id", "same-external-id"])
def test_racing_deliveries_create_one_ticket(same_webhook_id):
    import threading

    from django.db import connection
    from django.test import Client

    body = as_body(payload(external_id="race-1"))
    shared = signed_headers(body, webhook_id="msg_race")
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def deliver() -> None:
        headers = shared if same_webhook_id else signed_headers(body)
        barrier.wait()
        try:
            codes.append(post(Client(), body, headers).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(codes) == [200] * 7 + [202]
    assert Ticket.objects.count() == 1
    expected_deliveries = 1 if same_webhook_id else 8
    assert WebhookDelivery.objects.filter(ticket=Ticket.objects.get()).count() == expected_deliveries


def test_a_huge_declared_length_is_refused_without_reading_the_body(live_server, settings):
    """Over real HTTP: the server answers 413 from the headers alone, before any body arrives."""
    import socket
    from urllib.parse import urlparse

    address = urlparse(live_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000000\r\nConnection: close\r\n\r\n{\"external_id\": ")
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"413"
