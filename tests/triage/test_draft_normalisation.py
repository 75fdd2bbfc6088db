"""Issue 13, point 9: customer-supplied text placed in a draft (the name, values restored from
placeholders) is normalised: markup and control characters removed, for every outbound channel.
The UI escapes it, but plain-text e-mail and callbacks carried it verbatim."""

from __future__ import annotations

import json

import pytest

from support.delivery.callback import callback_payload
from support.models import AutomationPolicy, Category, OutboundMessage, Ticket
from support.services import ticket_create
from tests.fakes.openai_server import Reply
from tests.triage.llm_answers import answer
from triage.drafting import customer_text_clean, local_draft
from triage.models import TriageDecision
from triage.pipeline import triage_run_execute

HOSTILE_NAME = "Bob</textarea><script>alert(1)</script>\u202e\x1b Smith<img src=x onerror=alert(2)>"
MARKERS = ("<", "script", "onerror", "alert", "textarea", "\u202e", "\x1b")


def _assert_clean(text: str) -> None:
    found = [marker for marker in MARKERS if marker in text]
    assert not found, f"{found!r} in {text!r}"


def _ticket(*, name: str = HOSTILE_NAME, callback_url: str = "") -> Ticket:
    ticket, _ = ticket_create(
        subject="New card",
        body_text="When will my new card arrive in the post?",
        customer_email="bob@example.com",
        customer_name=name,
        channel="webhook" if callback_url else "email",
        source="shop" if callback_url else "email",
        external_id="shop-1" if callback_url else "",
        callback_url=callback_url,
    )
    return ticket


@pytest.fixture
def automatable(demo_tenant, settings):
    settings.HIGH_STAKES_PROBABILITY_LIMIT = 0.5
    Category.objects.filter(slug="card_arrival").update(
        auto_threshold=0.9, automation_policy=AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT, high_stakes=False
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Bob</textarea><script>alert(1)</script>", "Bob"),
        ("<b>Ana</b> Lima", "Ana Lima"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;Eve", "Eve"),  # markup once decoded
        ("Tom & Jerry", "Tom & Jerry"),
        ("Zoë\u200b Ødegård\u202e", "Zoë Ødegård"),
        ("Ann\r\nBcc: victim@example.com", "Ann Bcc: victim@example.com"),
    ],
)
def test_customer_text_clean_removes_markup_and_control_characters(raw, clean):
    assert customer_text_clean(raw) == clean


def test_the_local_draft_greets_by_a_normalised_name():
    draft = local_draft(category_slug="card_arrival", customer_name=HOSTILE_NAME, ticket_text="", hits=[])
    assert draft.text.startswith("Hello Bob,\n")
    _assert_clean(draft.text)


@pytest.mark.django_db
def test_the_local_provider_through_the_pipeline_drafts_no_markup(demo_tenant, trained_classifier, settings):
    settings.LLM_CHAIN = ["local"]
    ticket = _ticket()

    triage_run_execute(ticket_id=ticket.pk)

    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.provider == "local"
    assert decision.reply_draft.startswith("Hello Bob,")
    _assert_clean(decision.reply_draft)


@pytest.mark.django_db
def test_a_model_draft_with_the_name_placeholder_is_sent_by_email_without_markup(
    automatable, fake_llm, trained_classifier
):
    fake_llm.push(Reply(content=answer("card_arrival", confidence=0.97)))  # "Hello [CUSTOMER_NAME],"
    ticket = _ticket()

    assert triage_run_execute(ticket_id=ticket.pk) == "auto_replied"

    assert "[CUSTOMER_NAME]" in json.dumps(fake_llm.requests[0])  # the model never saw the name
    [outbound] = OutboundMessage.objects.filter(ticket=ticket)
    assert outbound.kind == "email"
    assert outbound.body_text.startswith("Hello Bob Smith,")
    _assert_clean(outbound.body_text)
    _assert_clean(TriageDecision.objects.get(ticket=ticket, is_final=True).reply_draft)


@pytest.mark.django_db
def test_a_model_draft_with_the_first_name_placeholder_reaches_the_callback_without_markup(
    automatable, fake_llm, trained_classifier
):
    draft = "Hello [CUSTOMER_FIRST_NAME],\n\nCards arrive within a few working days.\n\nKind regards,\nSupport"
    fake_llm.push(Reply(content=answer("card_arrival", confidence=0.97, reply_draft=draft)))
    ticket = _ticket(callback_url="https://shop.example/switchboard/callback")

    triage_run_execute(ticket_id=ticket.pk)

    [outbound] = OutboundMessage.objects.filter(ticket=ticket)
    assert outbound.kind == "callback"
    reply = json.loads(callback_payload(outbound=outbound))["data"]["reply"]["body_text"]
    assert reply.startswith("Hello Bob,")
    _assert_clean(reply)
