"""Issue 13, point 1 (second half): every inbound message records the sender-authentication
verdict, and a message whose sender is not vouched for is never taken as the customer: it lands
in review as ``sender_unverified`` and is never answered automatically."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from django.test import override_settings

from support.intake.email_ingest import email_ingest, quarantine_reprocess
from support.intake.sender_auth import sender_verdict
from support.models import AutomationPolicy, Category, InboundEmail, Message, OutboundMessage, Ticket, TicketEvent
from support.reasons import REASON_SENDER_UNVERIFIED, reason_label
from tests.fakes.openai_server import Reply
from tests.support.test_inbound_secret import basic, forged_reply
from tests.triage.llm_answers import answer
from triage.models import TriageDecision
from triage.pipeline import triage_run_execute

MX = "mx.switchboard.example"
PASSING = f"{MX}; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=example.com; dmarc=pass header.from=example.com"
FAILING = f"{MX}; dkim=none; spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com"


@pytest.fixture(autouse=True)
def _trusted_mta(settings: Any) -> None:
    settings.EMAIL_AUTHSERV_IDS = [MX]
    settings.EMAIL_SENDER_AUTH_REQUIRED = False
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp-user:esp-password"}


def with_results(raw: bytes, *values: str) -> bytes:
    """The message as our MTA hands it over: its Authentication-Results on top."""
    return b"".join(f"Authentication-Results: {value}\r\n".encode() for value in values) + raw


# --- the verdict ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([PASSING], "pass"),
        ([FAILING], "fail"),
        ([f"{MX}; dkim=pass header.d=example.com"], "pass"),  # aligned DKIM, no DMARC result
        ([f"{MX}; dkim=pass header.d=mail.example.com"], "pass"),  # relaxed alignment
        ([f"{MX}; dkim=pass header.d=attacker.example"], "none"),  # signed, but not by the From domain
        ([f"{MX}; spf=pass smtp.mailfrom=attacker.example; dkim=fail header.d=example.com"], "fail"),
        ([f"{MX}; spf=softfail smtp.mailfrom=example.com"], "fail"),
        ([f"{MX}; dkim=pass header.d=com"], "none"),  # a bare suffix vouches for nobody
        ([f"{MX}; none"], "none"),
        ([f"{MX}; spf=neutral smtp.mailfrom=example.com"], "none"),
        ([], "none"),
        # Written by the sender, not by a server we trust: ignored.
        (["attacker.example; dmarc=pass header.from=example.com"], "none"),
        # Ours is the topmost; a forged "pass" below it (added before our MTA saw it) changes nothing.
        ([FAILING, f"{MX}; dmarc=pass header.from=example.com"], "fail"),
        (["this is not ; a = valid header ;;", PASSING], "pass"),
    ],
)
def test_it_reads_the_trusted_authentication_results(headers: list[str], expected: str) -> None:
    verdict = sender_verdict(authentication_results=headers, from_email="ada@example.com")
    assert verdict.result == expected, verdict.detail


def test_the_esp_spam_flag_fails_the_sender_even_with_a_pass() -> None:
    verdict = sender_verdict(authentication_results=[PASSING], from_email="ada@example.com", spam_detected=True)
    assert verdict.result == "fail" and "spam" in verdict.detail


def test_no_verdict_is_unverified_only_where_a_verdict_is_required(settings: Any) -> None:
    verdict = sender_verdict(authentication_results=[], from_email="ada@example.com")
    assert not verdict.unverified
    settings.EMAIL_SENDER_AUTH_REQUIRED = True
    assert verdict.unverified


def test_sender_unverified_has_a_label_in_the_one_table_of_reasons() -> None:
    assert reason_label(REASON_SENDER_UNVERIFIED).startswith("Sender not authenticated")


# --- intake -----------------------------------------------------------------------------------------


def post_postmark(client: Any, raw: bytes) -> Any:
    return client.post("/anymail/postmark/inbound/", data=json.dumps({"RawEmail": raw.decode(), "MessageID": "pm"}),
                       content_type="application/json", headers=basic("esp-user:esp-password"))


@pytest.mark.django_db
def test_the_forged_reply_lands_in_review_as_sender_unverified_never_as_the_customer(client, answered_ticket):
    # Given the webhook secret set and the ESP's verdict on the forged "Re: [#SB-n]": DMARC fail
    messages_before = Message.objects.filter(ticket=answered_ticket).count()

    response = post_postmark(client, with_results(forged_reply(answered_ticket), FAILING))

    assert response.status_code == 200
    # Not threaded onto the customer's ticket, which stays as it was
    answered_ticket.refresh_from_db()
    assert Message.objects.filter(ticket=answered_ticket).count() == messages_before
    assert answered_ticket.status == Ticket.Status.REPLIED
    # A ticket of its own, for a human, labelled and marked for the policy
    forged = Ticket.objects.exclude(pk=answered_ticket.pk).get()
    assert forged.review_reasons == [REASON_SENDER_UNVERIFIED]
    assert REASON_SENDER_UNVERIFIED in forged.metadata and forged.metadata["claimed_ticket"] == answered_ticket.pk
    event = TicketEvent.objects.get(ticket=forged, verb=REASON_SENDER_UNVERIFIED)
    assert "dmarc=fail" in event.note and answered_ticket.reference in event.note
    inbound = InboundEmail.objects.get(ticket=forged)
    assert (inbound.sender_auth, inbound.route) == ("fail", "anymail:postmark")
    assert "dmarc=fail" in inbound.sender_auth_detail


@pytest.mark.django_db
def test_a_genuine_reply_is_threaded_as_the_customer_and_records_its_pass(client, answered_ticket):
    response = post_postmark(client, with_results(forged_reply(answered_ticket), PASSING))

    assert response.status_code == 200
    assert Ticket.objects.count() == 1
    answered_ticket.refresh_from_db()
    assert answered_ticket.status == Ticket.Status.AWAITING_REVIEW
    assert REASON_SENDER_UNVERIFIED not in answered_ticket.review_reasons
    assert InboundEmail.objects.get(route="anymail:postmark").sender_auth == "pass"


@pytest.mark.django_db
def test_a_forged_pass_from_an_untrusted_server_is_unverified_where_a_verdict_is_required(settings, answered_ticket):
    settings.EMAIL_SENDER_AUTH_REQUIRED = True
    raw = with_results(forged_reply(answered_ticket), "attacker.example; dmarc=pass header.from=example.com")

    result = email_ingest(raw=raw, route="imap", source_ref="uid-7")

    assert result.outcome == "created" and result.reason == REASON_SENDER_UNVERIFIED
    assert result.ticket_id != answered_ticket.pk
    assert Ticket.objects.get(pk=result.ticket_id).review_reasons == [REASON_SENDER_UNVERIFIED]
    assert InboundEmail.objects.get(pk=result.inbound_id).sender_auth == "none"


@pytest.mark.django_db
def test_the_mailgun_spam_flag_reaches_the_verdict(client):
    # Mailgun marks spam in a header of the message it posts; anymail exposes it as spam_detected.
    raw = (b"X-Mailgun-Sflag: Yes\r\nFrom: bob@example.com\r\nTo: support@switchboard.localhost\r\n"
           b"Subject: Prize\r\nMessage-ID: <spam@example.com>\r\n\r\nYou won.\r\n")
    key = "mailgun-signing-key"
    client_settings = {"WEBHOOK_SECRET": "esp-user:esp-password", "MAILGUN_WEBHOOK_SIGNING_KEY": key}
    timestamp, token = str(int(time.time())), "tok-spam"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    with override_settings(ANYMAIL=client_settings):
        response = client.post("/anymail/mailgun/inbound/", headers=basic("esp-user:esp-password"),
                               data={"body-mime": raw.decode(), "timestamp": timestamp, "token": token,
                                     "signature": signature})
    assert response.status_code == 200
    inbound = InboundEmail.objects.get()
    assert (inbound.esp_spam_detected, inbound.sender_auth) == (True, "fail")
    assert Ticket.objects.get().review_reasons == [REASON_SENDER_UNVERIFIED]


@pytest.mark.django_db
def test_reprocessing_keeps_the_esp_spam_verdict():
    raw = b"From: bob@example.com\r\nSubject: x\r\nMessage-ID: <q@example.com>\r\n\r\nhello\r\n"
    row = InboundEmail.objects.create(route="anymail:mailgun", raw=raw, sha256="0" * 64, status="quarantined",
                                      esp_spam_detected=True)
    [(_, result)] = quarantine_reprocess(inbound_ids=[row.pk])
    row.refresh_from_db()
    assert result.reason == REASON_SENDER_UNVERIFIED and row.sender_auth == "fail"


# --- the policy, end to end -----------------------------------------------------------------------

CARD_QUESTION = (b"From: Ada Byrne <ada@example.com>\r\nTo: support@switchboard.localhost\r\n"
                 b"Subject: New card\r\nMessage-ID: <%s@example.com>\r\n\r\n"
                 b"When will my new card arrive in the post?\r\n")


@pytest.fixture
def automatable(demo_tenant, settings):
    """card_arrival may be auto-sent (as in tests/triage/test_pipeline.py)."""
    settings.HIGH_STAKES_PROBABILITY_LIMIT = 0.5
    Category.objects.filter(slug="card_arrival").update(
        auto_threshold=0.9, automation_policy=AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT, high_stakes=False)


@pytest.mark.django_db
@pytest.mark.parametrize(("results", "expected"), [(PASSING, "auto_replied"), (FAILING, "awaiting_review")])
def test_the_policy_never_auto_answers_an_unverified_sender(automatable, fake_llm, trained_classifier,
                                                            results, expected):
    # Given a question the AI answers confidently (auto-sent when the sender is authenticated)
    fake_llm.push(Reply(content=answer("card_arrival", confidence=0.97)))
    result = email_ingest(raw=with_results(CARD_QUESTION % expected.encode(), results), route="imap")

    assert triage_run_execute(ticket_id=result.ticket_id) == expected

    ticket = Ticket.objects.get(pk=result.ticket_id)
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    if expected == "awaiting_review":
        assert ticket.review_reasons == [REASON_SENDER_UNVERIFIED] == decision.review_reasons
        assert not OutboundMessage.objects.filter(ticket=ticket).exists()
    else:
        assert OutboundMessage.objects.filter(ticket=ticket, auto_submitted=True).count() == 1
