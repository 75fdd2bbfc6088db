"""Local drafts: macro + customer name + facts from the ticket + the best KB chunk, cited."""

from __future__ import annotations

import re

import pytest

from review.demo.tenant import category_slug, demo_rows, labels
from triage.drafting import TOPICS, local_draft
from triage.kb.retrieval import ChunkHit, kb_search
from triage.kb.services import kb_import_demo

HIT = ChunkHit(
    chunk_id=42,
    article_slug="refunds",
    article_title="Refunds from merchants",
    heading="A refund is not showing yet",
    text="Once a merchant issues a refund it usually reaches your account within 5 working days.",
    score=1.0,
)


def test_the_draft_greets_the_customer_names_the_topic_and_quotes_the_cited_chunk() -> None:
    draft = local_draft(
        category_slug="refund_not_showing_up",
        customer_name="Ada Lovelace",
        ticket_text="Where is my refund?",
        hits=[HIT],
    )

    assert draft.text.startswith("Hello Ada,")
    assert "a refund that is not showing yet" in draft.text
    assert HIT.text in draft.text
    assert "Refunds from merchants" in draft.text
    assert draft.citations == [42]


def test_amounts_and_dates_from_the_ticket_are_quoted_verbatim() -> None:
    draft = local_draft(
        category_slug="transaction_charged_twice",
        customer_name="Bilal",
        ticket_text="I was charged £25.50 twice on 3 March at the cafe",
        hits=[HIT],
    )
    assert "£25.50" in draft.text and "3 March" in draft.text


def test_without_a_hit_the_draft_cites_nothing_and_states_no_policy() -> None:
    draft = local_draft(
        category_slug="card_arrival", customer_name="", ticket_text="card?", hits=[]
    )

    assert draft.citations == []
    assert draft.text.startswith("Hello,")
    assert not re.search(r"\d", draft.text)


def test_every_banking77_category_has_a_macro() -> None:
    assert {category_slug(label) for label in labels()} == set(TOPICS)


@pytest.mark.django_db
def test_drafts_contain_no_number_absent_from_the_ticket_and_the_cited_chunk() -> None:
    # "Never a fact not in the ticket, the customer record or the cited chunk": numbers (amounts,
    # days, limits, phone numbers) are the facts a template could invent, so check every one.
    kb_import_demo()
    checked = 0
    for text, label in demo_rows(120):
        slug = category_slug(label)
        hits = kb_search(query=text, limit=3, category_slug=slug)
        draft = local_draft(
            category_slug=slug, customer_name="Dana Silva", ticket_text=text, hits=hits
        )
        cited = {hit.chunk_id: hit for hit in hits if hit.chunk_id in draft.citations}
        assert set(draft.citations) == set(cited)
        sources = (
            text + " " + " ".join(hit.text + " " + hit.article_title for hit in cited.values())
        )
        for number in re.findall(r"\d+(?:[.,]\d+)*", draft.text):
            assert number in sources, f"{number!r} in the draft for {text!r} comes from nowhere"
        checked += 1
    assert checked == 120
