"""Provider inbound webhooks through django-anymail land in the same e-mail pipeline."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest

from support.models import InboundEmail, Ticket

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "email"
URL = "/anymail/postmark/inbound/"
MAILGUN_KEY = "mailgun-signing-key-for-tests"


@pytest.fixture(autouse=True)
def _anymail_secret(settings: Any) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp-user:esp-password", "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


def postmark(client: Any, raw: bytes, headers: dict[str, str]) -> Any:
    """Postmark's inbound JSON with the "include raw email content" option on."""
    payload = {"RawEmail": raw.decode("utf-8", "surrogateescape") if raw.isascii() else raw.decode("latin-1"),
               "MessageID": "pm-1", "From": "x@example.com"}
    return client.post(URL, data=json.dumps(payload), content_type="application/json", headers=headers)


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.mark.django_db
def test_a_sendgrid_raw_mime_post_creates_a_ticket(client):
    raw = (CORPUS / "windows_1252.eml").read_bytes()
    response = postmark(client, raw, basic("esp-user:esp-password"))

    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.customer.email == "bob@example.com"
    assert ticket.external_id == "<cp1252-1@mail.example.com>"
    inbound = InboundEmail.objects.get()
    assert inbound.route == "anymail:postmark" and inbound.status == "processed"


@pytest.mark.django_db
def test_the_esp_retrying_the_same_message_creates_nothing_new(client):
    raw = (CORPUS / "multipart_alternative.eml").read_bytes()
    for _ in range(2):
        assert postmark(client, raw, basic("esp-user:esp-password")).status_code == 200
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_robot_through_the_esp_is_recorded_not_ticketed(client):
    raw = (CORPUS / "precedence_bulk.eml").read_bytes()
    assert postmark(client, raw, basic("esp-user:esp-password")).status_code == 200
    assert Ticket.objects.count() == 0
    assert InboundEmail.objects.get().status == "ignored"


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, basic("esp-user:wrong")], ids=["no-auth", "wrong-secret"])
def test_an_unauthenticated_esp_post_is_refused(client, headers):
    response = postmark(client, (CORPUS / "multipart_alternative.eml").read_bytes(), headers)
    assert response.status_code >= 400
    assert Ticket.objects.count() == 0 and InboundEmail.objects.count() == 0


def mailgun_fields(raw: bytes, *, key: str = MAILGUN_KEY) -> dict[str, str]:
    timestamp, token = str(int(time.time())), "tok-" + hashlib.sha1(raw).hexdigest()
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"body-mime": raw.decode(), "timestamp": timestamp, "token": token, "signature": signature}


@pytest.mark.django_db
def test_a_mailgun_post_is_checked_against_its_signature(client):
    raw = (CORPUS / "base64_utf8.eml").read_bytes()
    url = "/anymail/mailgun/inbound/"
    forged = client.post(url, data=mailgun_fields(raw, key="not-the-key"), headers=basic("esp-user:esp-password"))
    assert forged.status_code >= 400 and Ticket.objects.count() == 0

    genuine = client.post(url, data=mailgun_fields(raw), headers=basic("esp-user:esp-password"))
    assert genuine.status_code == 200
    assert Ticket.objects.get().subject == "Grüße aus Köln – Überweisung"
