"""Issue 13, point 1 (first half): the inbound e-mail webhooks refuse everything without their
secret, and say so at start-up and in ``check --deploy``."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import Client

from support.intake.anymail_inbound import inbound_warn_if_off
from support.models import InboundEmail, Message, Ticket

FORGED_REPLY = (
    "From: Ada Lovelace <ada@example.com>\r\n"
    "To: Support <support@switchboard.localhost>\r\n"
    "Subject: Re: [#{reference}] Your card\r\n"
    "Message-ID: <forged-1@attacker.example>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Please change my payout account to GB33BUKB20201555555555.\r\n"
)


def forged_reply(ticket: Ticket) -> bytes:
    return FORGED_REPLY.format(reference=ticket.reference).encode()


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.mark.django_db
@pytest.mark.parametrize("esp", ["postmark", "mailgun", "sendgrid", "amazon_ses"])
@pytest.mark.parametrize("headers", [{}, basic("esp-user:esp-password")], ids=["no-auth", "any-auth"])
def test_it_refuses_every_inbound_post_while_no_secret_is_set(client, settings, answered_ticket, esp, headers):
    # Given no ANYMAIL_WEBHOOK_SECRET (the default) and the forged "Re: [#SB-n]" from Ada's address
    settings.ANYMAIL = {}
    payload = {"RawEmail": forged_reply(answered_ticket).decode(), "MessageID": "pm-forged"}
    messages_before = Message.objects.filter(ticket=answered_ticket).count()

    response = client.post(f"/anymail/{esp}/inbound/", data=json.dumps(payload), content_type="application/json",
                           headers=headers)

    assert response.status_code == 404
    assert "ANYMAIL_WEBHOOK_SECRET" in response.content.decode()
    assert InboundEmail.objects.filter(route__startswith="anymail").count() == 0
    assert Ticket.objects.count() == 1
    assert Message.objects.filter(ticket=answered_ticket).count() == messages_before
    answered_ticket.refresh_from_db()
    assert answered_ticket.status == Ticket.Status.REPLIED


@pytest.mark.django_db
def test_it_accepts_the_same_route_once_the_secret_is_set(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp-user:esp-password"}
    raw = (b"From: bob@example.com\r\nTo: support@switchboard.localhost\r\nSubject: Hi\r\n"
           b"Message-ID: <hi@example.com>\r\n\r\nHello\r\n")
    response = client.post("/anymail/postmark/inbound/", data=json.dumps({"RawEmail": raw.decode()}),
                           content_type="application/json", headers=basic("esp-user:esp-password"))
    assert response.status_code == 200
    assert Ticket.objects.get().customer.email == "bob@example.com"


def test_it_warns_at_start_up_while_no_secret_is_set(settings, caplog):
    settings.ANYMAIL = {}
    with caplog.at_level(logging.WARNING, logger="support.intake.anymail_inbound"):
        assert inbound_warn_if_off() is True
    assert "ANYMAIL_WEBHOOK_SECRET is not configured" in caplog.text

    caplog.clear()
    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    with caplog.at_level(logging.WARNING, logger="support.intake.anymail_inbound"):
        assert inbound_warn_if_off() is False
    assert caplog.text == ""


def _deploy_check_ids() -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=True) if message.id}


@pytest.mark.django_db
def test_check_deploy_says_inbound_email_is_off_without_its_secret(settings: Any) -> None:
    settings.ANYMAIL = {}
    assert "support.I001" in _deploy_check_ids()
    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    assert "support.I001" not in _deploy_check_ids()


@pytest.mark.django_db
def test_check_deploy_warns_when_no_sender_can_ever_be_verified(settings: Any) -> None:
    settings.EMAIL_SENDER_AUTH_REQUIRED, settings.EMAIL_AUTHSERV_IDS = True, []
    assert "support.W001" in _deploy_check_ids()
    settings.EMAIL_AUTHSERV_IDS = ["mx.switchboard.example"]
    assert "support.W001" not in _deploy_check_ids()


ESPS = ["amazon_ses", "brevo", "mailersend", "mailgun", "mailjet", "mailtrap", "postal", "postmark", "resend",
        "sendgrid", "sparkpost"]


@pytest.mark.django_db
@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("body", [b"junk", b"{}", b'{"RawEmail": 5}'], ids=["not-json", "empty", "wrong-type"])
def test_junk_with_the_right_secret_is_never_a_500(settings, esp, body):
    # A 4xx, or a 200 when anymail finds no message in it (an empty one is quarantined): never a ticket.
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp-user:esp-password"}
    client = Client(raise_request_exception=False)
    response = client.post(f"/anymail/{esp}/inbound/", data=body, content_type="application/json",
                           headers=basic("esp-user:esp-password"))
    assert response.status_code < 500
    assert not Ticket.objects.exists()
