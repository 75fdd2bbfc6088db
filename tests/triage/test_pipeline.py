"""The pipeline end to end in one process: claim, decide, record, and the operator command."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from support.models import AutomationPolicy, Category, OutboundMessage, Ticket
from support.services import ticket_create
from tests.fakes.openai_server import Reply
from tests.triage.llm_answers import answer
from triage.models import TriageDecision
from triage.pipeline import triage_claim_token, triage_run_claimed, triage_run_execute

# One auto-replied ticket, local model and demo KB loaded: the claim (1); which configuration is
# in production, read once when the run starts and once when it ends (2); the context (6: ticket,
# messages, categories, teams, the KB's full-text ranking, the attempt count); the provider
# chain's two budget sums; the final transaction (23 with its savepoints: lock and "decided?" in
# one statement, category, routing, SLA, decision, four events, the outbound reply, one UPDATE of
# the ticket's classification and status). A change here is a change in per-ticket cost.
QUERIES_PER_TRIAGE_RUN = 34

REQUIRED_JSON_KEYS = {
    "ticket_id",
    "provider",
    "model",
    "prompt_version",
    "category",
    "priority",
    "confidence",
    "needs_review",
    "review_reasons",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "latency_ms",
    "cache_hit",
    "fallback_reason",
}


def _ticket(
    body: str = "When will my new card arrive in the post?", email: str = "ada@example.com"
) -> Ticket:
    ticket, _ = ticket_create(
        subject="New card",
        body_text=body,
        customer_email=email,
        customer_name="Ada Byrne",
        channel="email",
        source="email",
    )
    return ticket


@pytest.fixture
def automatable(demo_tenant, settings):
    """card_arrival may be auto-sent: calibrated threshold, auto-send policy."""
    settings.HIGH_STAKES_PROBABILITY_LIMIT = 0.5
    Category.objects.filter(slug="card_arrival").update(
        auto_threshold=0.9,
        automation_policy=AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT,
        high_stakes=False,
    )


@pytest.mark.django_db
def test_a_confident_grounded_answer_is_auto_sent_once(automatable, fake_llm, trained_classifier):
    fake_llm.push(Reply(content=answer("card_arrival", confidence=0.97)))
    ticket = _ticket()
    assert triage_run_execute(ticket_id=ticket.pk) == "auto_replied"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AUTO_REPLIED
    assert (ticket.category.slug, ticket.team.slug) == ("card_arrival", "cards")
    [outbound] = OutboundMessage.objects.filter(ticket=ticket)
    assert outbound.auto_submitted and outbound.idempotency_key == f"auto:{ticket.pk}"
    assert outbound.body_text.startswith("Hello Ada Byrne")
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.needs_review is False and decision.review_reasons == []
    assert ticket.first_response_due_at is not None  # SLA applied


@pytest.mark.django_db
def test_high_stakes_probability_comes_from_the_local_model_whatever_answered(
    automatable, fake_llm, trained_classifier
):
    fake_llm.push(Reply(content=answer("card_arrival")))
    ticket = _ticket("I think my card was stolen, someone used it")
    triage_run_execute(ticket_id=ticket.pk)
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.provider == "openai"
    high_stakes = set(Category.objects.filter(high_stakes=True).values_list("slug", flat=True))
    probabilities = trained_classifier.predict(
        f"New card. {ticket.messages.get().body_for_model}"
    ).probabilities
    expected = sum(p for slug, p in probabilities.items() if slug in high_stakes)
    assert decision.high_stakes_probability == pytest.approx(expected, abs=1e-4)
    assert decision.high_stakes_probability > 0.5
    assert "high_stakes_likely" in decision.review_reasons
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.AWAITING_REVIEW
    assert not OutboundMessage.objects.filter(ticket=ticket).exists()


@pytest.mark.django_db
def test_without_a_local_model_high_stakes_is_unknown_and_a_human_reviews(
    automatable, fake_llm, settings, tmp_path
):
    settings.CLASSIFIER_DIR = tmp_path
    fake_llm.push(Reply(content=answer("card_arrival")))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.high_stakes_probability is None
    assert "high_stakes_unknown" in decision.review_reasons


@pytest.mark.django_db
def test_the_local_provider_alone_triages_without_network(
    demo_tenant, trained_classifier, settings
):
    settings.LLM_CHAIN = ["local"]
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.provider == "local" and decision.category_slug == "card_arrival"
    assert decision.cost_usd == 0 and decision.model.startswith("tiny@")
    assert decision.reply_draft


@pytest.mark.django_db
def test_a_draft_only_category_keeps_no_draft(demo_tenant, fake_llm, trained_classifier):
    Category.objects.filter(slug="card_arrival").update(
        automation_policy=AutomationPolicy.DRAFT_ONLY
    )
    fake_llm.push(Reply(content=answer("card_arrival")))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.reply_draft == ""
    assert "policy_draft_only" in decision.review_reasons


@pytest.mark.django_db
def test_a_ticket_is_claimed_once(demo_tenant, fake_llm):
    fake_llm.default = lambda request: answer()
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    assert triage_run_execute(ticket_id=ticket.pk) == "skipped: not new"
    assert TriageDecision.objects.filter(ticket=ticket, is_final=True).count() == 1
    assert len(fake_llm.requests) == 1


@pytest.mark.django_db
def test_a_worker_whose_claim_was_swept_cannot_apply_its_result(
    automatable, fake_llm, trained_classifier
):
    # Given worker A claimed the ticket and went silent; the sweeper re-queued it;
    # worker B finished it
    fake_llm.default = lambda request: answer("card_arrival")
    ticket = _ticket("Where is my card? It has been two weeks.")
    started_a = triage_claim_token(ticket_id=ticket.pk)
    Ticket.objects.filter(pk=ticket.pk).update(
        status=Ticket.Status.NEW
    )  # what triage_requeue_stuck does
    triage_run_execute(ticket_id=ticket.pk)
    # When worker A wakes up and finishes
    outcome = triage_run_claimed(ticket_id=ticket.pk, started=started_a)
    # Then its result is logged but not applied: one final decision, at most one reply
    assert outcome.status == "skipped: claim lost"
    assert TriageDecision.objects.filter(ticket=ticket, is_final=True).count() == 1
    assert TriageDecision.objects.filter(ticket=ticket, error_class="ClaimLost").count() == 1
    assert OutboundMessage.objects.filter(ticket=ticket).count() <= 1


@pytest.mark.django_db
def test_an_unexpected_error_hands_the_ticket_to_a_human(demo_tenant, settings):
    settings.PROMPT_VERSION = "no-such-prompt"
    ticket = _ticket()
    assert triage_run_execute(ticket_id=ticket.pk) == "awaiting_review"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AWAITING_REVIEW and ticket.review_reasons == [
        "ai_unavailable"
    ]
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.fallback_reason == "pipeline error: ImproperlyConfigured"


@pytest.mark.django_db
def test_the_prompt_version_is_name_and_content_hash(demo_tenant, fake_llm):
    from triage.prompts import prompt_load

    fake_llm.push(Reply(content=answer()))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    version = TriageDecision.objects.get(ticket=ticket, is_final=True).prompt_version
    assert version == prompt_load().version
    assert version.startswith("triage-") and len(version) == len("triage-") + 8


# --- The operator command ----------------------------------------------------------------------


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("triage_ticket", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_triage_ticket_json_prints_one_object_with_the_contract_keys(demo_tenant, fake_llm):
    fake_llm.push(Reply(content=answer("card_arrival")))
    ticket = _ticket()
    payload = json.loads(_run(str(ticket.pk), "--json"))
    assert REQUIRED_JSON_KEYS <= set(payload)
    assert payload["ticket_id"] == ticket.pk
    assert (payload["provider"], payload["category"], payload["tokens_in"]) == (
        "openai",
        "card_arrival",
        100,
    )
    assert payload["cache_hit"] is False and payload["needs_review"] is True
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.AWAITING_REVIEW


@pytest.mark.django_db
def test_triage_ticket_on_a_triaged_ticket_shows_it_and_force_re_triages(demo_tenant, fake_llm):
    fake_llm.push(
        Reply(content=answer("card_arrival")), Reply(content=answer("card_delivery_estimate"))
    )
    ticket = _ticket()
    first = json.loads(_run(str(ticket.pk), "--json"))
    again = json.loads(_run(str(ticket.pk), "--json"))
    assert again["decision_id"] == first["decision_id"]
    assert len(fake_llm.requests) == 1
    forced = json.loads(_run(str(ticket.pk), "--json", "--force"))
    assert forced["decision_id"] != first["decision_id"]
    assert forced["category"] == "card_delivery_estimate"
    assert TriageDecision.objects.filter(ticket=ticket, is_final=True).count() == 1
    assert TriageDecision.objects.filter(pk=first["decision_id"]).exists()  # the log keeps it


@pytest.mark.django_db
def test_triage_ticket_force_refuses_once_a_reply_went_out(demo_tenant, fake_llm):
    fake_llm.push(Reply(content=answer()))
    ticket = _ticket()
    _run(str(ticket.pk))
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.REPLIED)
    with pytest.raises(CommandError, match="re-triage refused"):
        _run(str(ticket.pk), "--force")


@pytest.mark.django_db
def test_triage_ticket_plain_output_is_readable(demo_tenant, fake_llm):
    fake_llm.push(Reply(content=answer()))
    ticket = _ticket()
    text = _run(str(ticket.pk))
    assert "provider" in text and "openai" in text and "draft:" in text


@pytest.mark.django_db
def test_one_triage_run_costs_a_fixed_number_of_queries(automatable, fake_llm, trained_classifier, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from triage.kb.services import kb_import_demo

    # Given the demo knowledge base, and a first ticket that loads what a process keeps
    kb_import_demo()
    settings.AUDIT_SAMPLE_RATE = 0  # a sampled reply adds its audit row (a draw per reply)
    fake_llm.push(Reply(content=answer("card_arrival", confidence=0.97)))
    triage_run_execute(ticket_id=_ticket(email="first@example.com").pk)
    counts = []
    sqls = []
    for index in range(3):
        # When later tickets (as a history grows) are triaged, each auto-replied
        fake_llm.push(Reply(content=answer("card_arrival", confidence=0.97)))
        ticket = _ticket(email=f"later{index}@example.com")
        with CaptureQueriesContext(connection) as queries:
            assert triage_run_execute(ticket_id=ticket.pk) == "auto_replied"
        counts.append(len(queries.captured_queries))
        sqls.append([q["sql"][:100] for q in queries.captured_queries])
    # Then each costs the same, small number of queries: the KB's published state, the
    # categories and the model are not re-read per ticket
    assert counts == [counts[0]] * 3, "\n".join(sqls[-1])
    # SQLite has no full-text ranking query: its keyword search runs on the in-process snapshot.
    expected = QUERIES_PER_TRIAGE_RUN if connection.vendor == "postgresql" else QUERIES_PER_TRIAGE_RUN - 1
    assert counts[0] == expected, "\n".join(q["sql"][:120] for q in queries.captured_queries)
