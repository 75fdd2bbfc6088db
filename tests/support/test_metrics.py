"""GET /metrics: what a Prometheus scrape sees, who may scrape, and what a scrape costs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from support.models import Alert, Category, Customer, OutboundMessage, SlaBreach, Team, Ticket
from triage.models import TriageDecision

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"
_seq = count(1)


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by (sample name, sorted labels)."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def ticket(status: str = Ticket.Status.NEW, channel: str = Ticket.Channel.EMAIL, **fields: Any) -> Ticket:
    customer, _ = Customer.objects.get_or_create(email="metrics@example.com")
    return Ticket.objects.create(
        subject="Card declined", channel=channel, status=status, customer=customer,
        source="tests", **fields,
    )


def decision(t: Ticket, **fields: Any) -> TriageDecision:
    return TriageDecision.objects.create(ticket=t, **fields)


def outbound(t: Ticket, kind: str, status: str) -> OutboundMessage:
    return OutboundMessage.objects.create(
        ticket=t, kind=kind, status=status, idempotency_key=f"metrics-{next(_seq)}",
        to_address="customer@example.com", body_text="Hello",
    )


def populate(n: int = 1) -> None:
    """A small slice of everything the collector reads; ``n`` repeats it."""
    team, _ = Team.objects.get_or_create(slug="cards", defaults={"name": "Cards"})
    for _ in range(n):
        t = ticket(Ticket.Status.AWAITING_REVIEW)
        decision(t, provider="openai", is_final=True, needs_review=True, cost_usd=Decimal("0.01"))
        outbound(t, OutboundMessage.Kind.EMAIL, OutboundMessage.Status.SENT)
        SlaBreach.objects.create(ticket=t, kind=SlaBreach.Kind.FIRST_RESPONSE, due_at=timezone.now())
        Alert.objects.create(kind=Alert.Kind.SLA_BREACH, message="late", dedupe_key=f"metrics-{next(_seq)}")
        Category.objects.create(slug=f"metrics-{next(_seq)}", name="x", default_team=team, braked=True)


def test_metrics_expose_the_current_state(client, metrics_token):
    # Given: tickets in several states and channels, decisions, deliveries, breaches and alerts.
    waiting = [ticket(Ticket.Status.AWAITING_REVIEW), ticket(Ticket.Status.AWAITING_REVIEW, Ticket.Channel.WEBHOOK)]
    ticket(Ticket.Status.AWAITING_REVIEW, snoozed_until=timezone.now() + timedelta(hours=2))
    replied = ticket(Ticket.Status.REPLIED, Ticket.Channel.WEB)
    Ticket.objects.filter(pk=waiting[0].pk).update(created_at=timezone.now() - timedelta(hours=1))
    decision(waiting[0], provider="openai", is_final=False, cost_usd=Decimal("0.00120000"),
             tokens_in=300, tokens_out=40, error_class="RateLimitError")
    decision(waiting[0], provider="local", is_final=True, needs_review=True, cache_hit=True)
    decision(waiting[1], provider="openai", is_final=True, needs_review=True,
             cost_usd=Decimal("0.00250000"), tokens_in=500, tokens_out=90)
    old = decision(replied, provider="openai", is_final=True, needs_review=False,
                   cost_usd=Decimal("0.01000000"), tokens_in=1000, tokens_out=200)
    TriageDecision.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    outbound(replied, OutboundMessage.Kind.EMAIL, OutboundMessage.Status.SENT)
    outbound(replied, OutboundMessage.Kind.CALLBACK, OutboundMessage.Status.FAILED)
    outbound(waiting[1], OutboundMessage.Kind.CALLBACK, OutboundMessage.Status.FAILED)
    SlaBreach.objects.create(ticket=waiting[0], kind=SlaBreach.Kind.FIRST_RESPONSE, due_at=timezone.now())
    Alert.objects.create(kind=Alert.Kind.BUDGET_EXCEEDED, message="spent", dedupe_key="budget:1")
    Alert.objects.create(kind=Alert.Kind.BUDGET_EXCEEDED, message="spent", dedupe_key="budget:2",
                         acknowledged_by=None)
    team = Team.objects.create(slug="cards", name="Cards")
    Category.objects.create(slug="card-declined", name="Declined", default_team=team, braked=True)
    Category.objects.create(slug="card-arrival", name="Arrival", default_team=team)

    # When
    samples = scrape(client)

    # Then
    assert samples[("switchboard_tickets", (("status", "awaiting_review"),))] == 3
    assert samples[("switchboard_tickets", (("status", "replied"),))] == 1
    assert samples[("switchboard_tickets", (("status", "closed"),))] == 0
    assert samples[("switchboard_tickets_created_total", (("channel", "email"),))] == 2
    assert samples[("switchboard_tickets_created_total", (("channel", "webhook"),))] == 1
    assert samples[("switchboard_tickets_created_total", (("channel", "web"),))] == 1
    assert samples[("switchboard_review_queue_depth", ())] == 2  # the snoozed one is not waiting
    assert samples[("switchboard_review_queue_oldest_age_seconds", ())] >= 3600
    decisions = (("needs_review", "true"), ("provider", "openai"))
    assert samples[("switchboard_triage_decisions_total", decisions)] == 1
    assert samples[("switchboard_triage_decisions_total", (("needs_review", "false"), ("provider", "openai")))] == 1
    assert samples[("switchboard_triage_decisions_total", (("needs_review", "true"), ("provider", "local")))] == 1
    assert samples[("switchboard_llm_cost_usd_total", ())] == pytest.approx(0.0012 + 0.0025 + 0.01)
    assert samples[("switchboard_llm_cost_usd_today", ())] == pytest.approx(0.0012 + 0.0025)
    assert samples[("switchboard_llm_tokens_total", (("direction", "in"),))] == 1800
    assert samples[("switchboard_llm_tokens_total", (("direction", "out"),))] == 330
    assert samples[("switchboard_llm_cache_hits_total", ())] == 1
    assert samples[("switchboard_outbound_messages", (("kind", "callback"), ("status", "failed")))] == 2
    assert samples[("switchboard_outbound_messages", (("kind", "email"), ("status", "sent")))] == 1
    assert samples[("switchboard_outbound_messages", (("kind", "email"), ("status", "pending")))] == 0
    assert samples[("switchboard_sla_breaches_total", (("kind", "first_response"),))] == 1
    assert samples[("switchboard_sla_breaches_total", (("kind", "resolution"),))] == 0
    assert samples[("switchboard_alerts_open", (("kind", "budget_exceeded"),))] == 2
    assert samples[("switchboard_alerts_open", (("kind", "provider_down"),))] == 0
    assert samples[("switchboard_categories_braked", ())] == 1


def test_acknowledged_alerts_are_not_open(client, metrics_token, manager_user):
    Alert.objects.create(kind=Alert.Kind.SLA_BREACH, message="late", dedupe_key="a", acknowledged_by=manager_user)
    Alert.objects.create(kind=Alert.Kind.SLA_BREACH, message="late", dedupe_key="b")
    assert scrape(client)[("switchboard_alerts_open", (("kind", "sla_breach"),))] == 1


def test_an_open_circuit_breaker_shows_per_provider(client, metrics_token, settings):
    from triage.providers.breaker import breaker_record_failure

    settings.LLM_CHAIN = ["openai", "local"]
    settings.LLM_BREAKER_THRESHOLD = 2
    before = scrape(client)
    assert before[("switchboard_llm_circuit_open", (("provider", "openai"),))] == 0

    breaker_record_failure("openai")
    breaker_record_failure("openai")

    after = scrape(client)
    assert after[("switchboard_llm_circuit_open", (("provider", "openai"),))] == 1
    assert after[("switchboard_llm_circuit_open", (("provider", "local"),))] == 0
    assert after[("switchboard_alerts_open", (("kind", "provider_down"),))] == 1


def test_the_active_local_model_is_an_info_sample(client, metrics_token, settings, tmp_path):
    from triage import classifier

    settings.CLASSIFIER_DIR = tmp_path
    assert not [key for key in scrape(client) if key[0] == "switchboard_local_model_info"]

    # A stored version is a directory holding the model file; the collector never loads it.
    (tmp_path / "bank" / "20261127T100000Z-abcd1234").mkdir(parents=True)
    (tmp_path / "bank" / "20261127T100000Z-abcd1234" / classifier.MODEL_FILE).write_bytes(b"not loaded")
    classifier.classifier_activate(name="bank", version="20261127T100000Z-abcd1234")

    info = [(key, value) for key, value in scrape(client).items() if key[0] == "switchboard_local_model_info"]
    assert info == [
        (("switchboard_local_model_info", (("name", "bank"), ("version", "20261127T100000Z-abcd1234"))), 1.0)
    ]


def test_a_scrape_costs_the_same_queries_whatever_the_row_counts(client, metrics_token):
    populate(1)
    with CaptureQueriesContext(connection) as small:
        scrape(client)
    populate(20)
    with CaptureQueriesContext(connection) as large:
        samples = scrape(client)

    assert samples[("switchboard_tickets", (("status", "awaiting_review"),))] == 21
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(large.captured_queries) <= 10


# --- Access --------------------------------------------------------------------------------------


def test_without_a_token_the_scrape_is_refused(client, metrics_token):
    response = client.get("/metrics")
    assert response.status_code == 401  # not a redirect to the login page
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"switchboard_" not in response.content


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer ", f"Token {TOKEN}", TOKEN])
def test_a_wrong_token_is_refused(client, metrics_token, header):
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 401


def test_the_right_token_is_accepted(client, metrics_token):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"# TYPE switchboard_tickets gauge" in response.content


def test_with_a_token_configured_a_staff_session_alone_is_not_enough(client, metrics_token, manager_user):
    client.force_login(manager_user)
    assert client.get("/metrics").status_code == 401


def test_without_a_configured_token_no_bearer_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics").status_code == 401


def test_without_a_configured_token_agents_are_forbidden(client, settings, agent_user):
    settings.METRICS_TOKEN = ""
    client.force_login(agent_user)
    assert client.get("/metrics").status_code == 403


def test_without_a_configured_token_staff_may_read(client, settings, manager_user):
    settings.METRICS_TOKEN = ""
    client.force_login(manager_user)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"switchboard_review_queue_depth" in response.content
