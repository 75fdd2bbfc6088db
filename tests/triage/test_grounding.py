"""Grounding: facts in a draft must come from the thread, the customer or a cited chunk."""

import pytest

from support.models import Ticket
from support.services import ticket_create
from tests.fakes.openai_server import Reply
from tests.triage.llm_answers import answer
from triage.grounding import grounding_check
from triage.kb.models import Chunk
from triage.models import TriageDecision
from triage.pipeline import triage_run_execute

SOURCES = [
    "Order ORD-2024-0042 for $120.50 never came. Reach me at ada@example.com or +44 20 7946 0958.",
    "Refunds reach your account in 5-7 working days. Details: https://help.northwind.example/refunds",
]


def test_a_draft_repeating_known_facts_is_grounded():
    draft = (
        "Your order ORD-2024-0042 ($120.50) is refunded within 5-7 working days, see "
        "https://help.northwind.example/refunds. We will call +44 20 7946 0958 "
        "or write to ada@example.com."
    )
    assert grounding_check(draft=draft, sources=SOURCES) == []


@pytest.mark.parametrize(
    ("draft", "kind"),
    [
        ("Your order ORD-2024-0043 is on its way.", "id"),
        ("Transaction 88812345 was reversed.", "id"),
        ("We refunded $99.00.", "amount"),
        ("We refunded 120.51 GBP.", "amount"),
        ("Write to refunds@northwind-support.example.", "email"),
        ("Call us on +44 20 7946 0000.", "phone"),
        ("Log in at https://northwind-login.example/reset.", "url"),
    ],
)
def test_an_invented_fact_is_ungrounded(draft, kind):
    missing = grounding_check(draft=draft, sources=SOURCES)
    assert [item.kind for item in missing] == [kind]


@pytest.mark.django_db
def test_an_answer_inventing_an_order_id_goes_to_review(demo_tenant, fake_llm):
    fake_llm.push(
        Reply(
            content=answer(
                "card_arrival",
                reply_draft="Your replacement card (order ORD-77123) was posted yesterday.",
            )
        )
    )
    ticket, _ = ticket_create(
        subject="Card",
        body_text="My card has not arrived.",
        customer_email="ada@example.com",
        channel="email",
        source="email",
    )
    triage_run_execute(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AWAITING_REVIEW
    assert "ungrounded" in ticket.review_reasons
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.flag_details["ungrounded"]["evidence"] == ["id: ORD-77123"]


@pytest.mark.django_db
def test_a_fact_from_a_cited_chunk_is_grounded_and_an_uncited_one_is_not(demo_tenant, fake_llm):
    chunk = Chunk.objects.filter(text__contains="5 GBP").first()
    assert chunk is not None, "the demo knowledge base mentions a 5 GBP fee"
    ticket, _ = ticket_create(
        subject="Spare card",
        body_text="Can I get a second card?",
        customer_email="b@example.com",
        channel="email",
        source="email",
    )
    fake_llm.push(
        Reply(
            content=answer(
                "getting_spare_card", reply_draft="An extra card costs 5 GBP.", citations=[chunk.pk]
            )
        )
    )
    triage_run_execute(ticket_id=ticket.pk)
    assert "ungrounded" not in TriageDecision.objects.get(ticket=ticket, is_final=True).risk_flags

    other, _ = ticket_create(
        subject="Spare card",
        body_text="Can I order another card?",
        customer_email="c@example.com",
        channel="email",
        source="email",
    )
    fake_llm.push(
        Reply(content=answer("getting_spare_card", reply_draft="An extra card costs 5 GBP."))
    )
    triage_run_execute(ticket_id=other.pk)
    assert "ungrounded" in TriageDecision.objects.get(ticket=other, is_final=True).risk_flags
