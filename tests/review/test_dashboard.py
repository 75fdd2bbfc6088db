"""The manager quality dashboard: the numbers a manager reads, who may read them, and what the page
costs in SQL. History is written as plain rows (tickets, final decisions, review outcomes, audit
samples), dated by hand, so each test states exactly the past it judges."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from review.analytics import dashboard
from review.analytics.windows import window_days_parse
from review.models import AuditSample, ReviewOutcome
from review.monitoring.statistics import population_stability_index
from review.rollups import rollup_backfill
from support.models import Alert, Category, Customer, OutboundMessage, Team, Ticket
from triage.models import TriageDecision

pytestmark = pytest.mark.django_db

URL = "/review/dashboard/"
_numbers = itertools.count(1)


# --- history builders ----------------------------------------------------------------------------


def _ago(days: float) -> Any:
    return timezone.now() - timedelta(days=days)


def _ticket(*, days_ago: float = 1.0) -> Ticket:
    number = next(_numbers)
    customer = Customer.objects.create(email=f"customer-{number}@customers.example")
    ticket = Ticket.objects.create(subject=f"Question {number}", channel="email", customer=customer, source="tests")
    Ticket.objects.filter(pk=ticket.pk).update(created_at=_ago(days_ago))
    return ticket


def _decision(
    ticket: Ticket,
    *,
    days_ago: float = 1.0,
    category_slug: str = "card_arrival",
    confidence: float | None = 0.8,
    needs_review: bool = True,
    reasons: list[str] | None = None,
    is_final: bool = True,
    **fields: Any,
) -> TriageDecision:
    decision = TriageDecision.objects.create(
        ticket=ticket,
        provider=fields.pop("provider", "openai"),
        model=fields.pop("model", "gpt-4o-mini"),
        prompt_version=fields.pop("prompt_version", "triage-v1"),
        category_slug=category_slug,
        confidence=confidence,
        needs_review=needs_review,
        review_reasons=reasons if reasons is not None else (["low_confidence"] if needs_review else []),
        is_final=is_final,
        succeeded=True,
        **fields,
    )
    TriageDecision.objects.filter(pk=decision.pk).update(created_at=_ago(days_ago))
    return decision


def _triaged(*, days_ago: float = 1.0, **fields: Any) -> TriageDecision:
    return _decision(_ticket(days_ago=days_ago), days_ago=days_ago, **fields)


def _auto_reply(ticket: Ticket) -> OutboundMessage:
    return OutboundMessage.objects.create(
        ticket=ticket,
        kind=OutboundMessage.Kind.EMAIL,
        idempotency_key=f"auto:{ticket.pk}",
        to_address=ticket.customer.email,
        body_text="Your card is on its way.",
        auto_submitted=True,
        status=OutboundMessage.Status.SENT,
    )


def _outcome(
    reviewer: Any,
    *,
    verdict: str,
    ai: str = "card_arrival",
    final: str = "card_arrival",
    edit_distance: float | None = None,
    reason_code: str = "",
    days_ago: float = 1.0,
) -> ReviewOutcome:
    decision = _triaged(days_ago=days_ago, category_slug=ai)
    outcome = ReviewOutcome.objects.create(
        ticket=decision.ticket,
        decision=decision,
        reviewer=reviewer,
        verdict=verdict,
        ai_category_slug=ai,
        final_category_slug=final,
        edit_distance=edit_distance,
        reason_code=reason_code,
    )
    ReviewOutcome.objects.filter(pk=outcome.pk).update(decided_at=_ago(days_ago))
    return outcome


def _audit(category_slug: str, grade: str, *, days_ago: float = 1.0) -> AuditSample:
    decision = _triaged(days_ago=days_ago, category_slug=category_slug, needs_review=False)
    return AuditSample.objects.create(
        ticket=decision.ticket,
        outbound=_auto_reply(decision.ticket),
        decision=decision,
        category_slug=category_slug,
        grade=grade,
        graded_at=_ago(days_ago) if grade else None,
    )


class RolledUpClient(Client):
    """A manager's browser that looks after the beat job ran: the history is rolled up first."""

    def get(self, path: str, data: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        rollup_backfill(days=window_days_parse((data or {}).get("days")))
        return super().get(path, data, **kwargs)


@pytest.fixture
def manager_client(manager_user: Any) -> Any:
    client = RolledUpClient()
    client.force_login(manager_user)
    return client


def _text(response: Any) -> str:
    """The page as a manager reads it: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def _row(page: str, table_id: str) -> str:
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert match, f"no table #{table_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


# --- who may see it ------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client: Any) -> None:
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_agents_get_403_and_no_dashboard_link(client: Any, agent_user: Any) -> None:
    client.force_login(agent_user)

    assert client.get(URL).status_code == 403
    assert reverse("review:dashboard") not in client.get("/review/").content.decode()


def test_managers_see_the_page_and_the_nav_link(manager_client: Any) -> None:
    response = manager_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{reverse("review:dashboard")}"' in html
    assert "<caption" in html and 'scope="col"' in html
    assert "style=" not in html and "<script>" not in html  # CSP: no inline style or script


def test_admins_see_the_page(client: Any, make_user: Callable[..., Any]) -> None:
    client.force_login(make_user("admin-test", "admin"))

    assert client.get(URL).status_code == 200


# --- 1. volume and automation --------------------------------------------------------------------


def test_volume_counts_tickets_automation_share_and_review_reasons(manager_client: Any) -> None:
    # Given: four tickets this month, one answered automatically, three sent to a human,
    # and one ticket from two months ago that the 30-day window must not count.
    auto = _triaged(needs_review=False, days_ago=2)
    _auto_reply(auto.ticket)
    _triaged(reasons=["low_confidence"], days_ago=3)
    _triaged(reasons=["low_confidence", "vip_customer"], days_ago=4)
    _triaged(reasons=["high_stakes"], days_ago=5)
    _triaged(reasons=["high_stakes"], days_ago=60)

    page = manager_client.get(URL).content.decode()

    volume = _row(page, "volume")
    assert "Tickets in 4" in volume
    assert "Auto-replied 1 25 %" in volume
    assert "Sent for review 3 75 %" in volume
    reasons = _row(page, "review-reasons")
    assert "low_confidence 2 67 %" in reasons
    assert "high_stakes 1 33 %" in reasons
    assert reasons.index("low_confidence") < reasons.index("high_stakes")  # most frequent first

    wider = _row(manager_client.get(URL, {"days": "90"}).content.decode(), "volume")
    assert "Tickets in 5" in wider


# --- 2. quality ----------------------------------------------------------------------------------


def test_quality_agreement_rejects_and_median_edit_distance(manager_client: Any, agent_user: Any) -> None:
    # Given: two approvals keeping the AI's category, one rejection that changed it, and a
    # snooze (no verdict) that must not count.
    _outcome(agent_user, verdict="approved", edit_distance=0.1)
    _outcome(agent_user, verdict="approved", edit_distance=0.3)
    _outcome(agent_user, verdict="rejected", final="lost_or_stolen_card", reason_code="wrong_category")
    _outcome(agent_user, verdict="snoozed", final="failed_transfer")

    page = manager_client.get(URL).content.decode()

    quality = _row(page, "quality")
    assert "Reviewer agreement (final category = AI's) 67 % 2 of 3 reviewed" in quality
    assert "Rejected 33 % 1 of 3 reviewed" in quality
    assert "Median edit distance of approved drafts 0.20 2 approved" in quality
    assert "Wrong category 1 33 %" in _row(page, "reject-reasons")


def test_a_correction_then_an_approval_counts_once_as_a_disagreement(manager_client: Any, agent_user: Any) -> None:
    corrected = _outcome(agent_user, verdict="overridden", final="lost_or_stolen_card")
    ReviewOutcome.objects.create(
        ticket=corrected.ticket,
        decision=corrected.decision,
        reviewer=agent_user,
        verdict="approved",
        ai_category_slug="card_arrival",
        final_category_slug="lost_or_stolen_card",
        edit_distance=0.05,
    )
    _outcome(agent_user, verdict="approved", edit_distance=0.0)
    rollup_backfill(days=30)

    quality = dashboard.dashboard_build(days=30).quality

    assert (quality.agreed, quality.judged) == (1, 2)
    assert quality.median_edit_distance == pytest.approx(0.025)


def test_audited_error_per_category_highlights_braked_categories(
    manager_client: Any, catalogue: dict[str, Any]
) -> None:
    Category.objects.filter(slug="failed_transfer").update(braked=True)
    for grade in ["correct", "correct", "correct", "incorrect"]:
        _audit("card_arrival", grade)
    _audit("failed_transfer", "incorrect")
    _audit("failed_transfer", "incorrect")
    _audit("card_arrival", "")  # not graded yet: not evidence

    page = manager_client.get(URL).content.decode()

    audits = _row(page, "audits")
    assert "failed_transfer 2 2 100 % Braked" in audits
    assert "card_arrival 4 1 25 % Running" in audits
    assert audits.index("failed_transfer") < audits.index("card_arrival")  # worst first
    assert page.count('class="is-braked"') == 1


# --- 3. cost and speed ---------------------------------------------------------------------------


def test_cost_per_ticket_tokens_cache_and_latency_percentiles(manager_client: Any) -> None:
    # Given: ticket A needed a retry (both attempts are paid), ticket B was a cache hit.
    first = _ticket()
    _decision(first, is_final=False, cost_usd=Decimal("0.001"), tokens_in=100, tokens_out=0, latency_ms=900)
    _decision(first, cost_usd=Decimal("0.002"), tokens_in=120, tokens_out=40, latency_ms=300)
    _triaged(cost_usd=Decimal("0.003"), tokens_in=80, tokens_out=30, latency_ms=500, cache_hit=True)
    _triaged(provider="local", model="svm", prompt_version="", latency_ms=20)
    rollup_backfill(days=30)

    board = dashboard.dashboard_build(days=30)

    total = board.cost.total
    assert total.cost_usd == Decimal("0.006")
    assert total.finals == 3
    assert total.cost_per_ticket == Decimal("0.002")
    openai = next(row for row in board.cost.rows if row.provider == "openai")
    assert (openai.attempts, openai.finals, openai.tokens_in, openai.tokens_out) == (3, 2, 300, 70)
    assert openai.cost_per_ticket == Decimal("0.003")
    assert openai.cache_hit_rate == pytest.approx(1 / 3)
    assert openai.latency_p50 == 500
    assert openai.latency_p95 == pytest.approx(860)  # 500 + 0.9 · (900 − 500)
    page = manager_client.get(URL).content.decode()
    cost = _row(page, "cost")
    assert "openai gpt-4o-mini triage-v1 3 2 0.0060 0.0030 300 70 33 % 500 860" in cost
    assert "All — — 4 3 0.0060 0.0020 300 70 25 %" in cost


# --- 4. drift ------------------------------------------------------------------------------------


def test_population_stability_index_of_known_shares() -> None:
    psi, movers = population_stability_index({"a": 50, "b": 50}, {"a": 90, "b": 10})

    # (0.9 − 0.5)·ln(0.9/0.5) + (0.1 − 0.5)·ln(0.1/0.5)
    assert psi == pytest.approx(0.4 * 0.5877866649 + 0.4 * 1.6094379124)
    assert [mover.key for mover in movers] == ["b", "a"]
    assert population_stability_index({}, {"a": 1}) == (None, [])


# --- 5. alerts -----------------------------------------------------------------------------------


def test_open_alerts_are_listed_and_acknowledged_ones_are_not(manager_client: Any, manager_user: Any) -> None:
    Alert.objects.create(kind="budget_exceeded", message="Daily LLM budget of $5 exceeded", dedupe_key="budget:1")
    Alert.objects.create(
        kind="provider_down", message="Old outage, handled", dedupe_key="down:1", acknowledged_by=manager_user
    )

    text = _text(manager_client.get(URL))

    assert "Daily LLM budget of $5 exceeded" in text
    assert "Old outage, handled" not in text
    assert "Open alerts 1" in text


# --- the page's plumbing -------------------------------------------------------------------------


def test_htmx_gets_only_the_panels_and_a_bad_window_falls_back_to_30_days(
    manager_client: Any,
) -> None:
    fragment = manager_client.get(URL, {"days": "7"}, HTTP_HX_REQUEST="true").content.decode()
    odd = manager_client.get(URL, {"days": "12; drop table"}).content.decode()

    assert fragment.lstrip().startswith('<div id="dashboard-panels"')
    assert "<html" not in fragment and "Last 7 days" in _text_of(fragment)
    assert '<option value="30" selected>' in odd


def _text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _spread_history(agent: Any, *, categories: int, days: int) -> None:
    team, _ = Team.objects.get_or_create(slug="cards", defaults={"name": "Cards"})
    for index in range(categories):
        slug = f"category_{index}"
        Category.objects.get_or_create(slug=slug, defaults={"name": slug, "default_team": team})
        for day in range(days):
            decision = _triaged(
                days_ago=day + 0.5, category_slug=slug, provider=f"provider_{index % 3}", prompt_version=f"v{index}"
            )
            ReviewOutcome.objects.create(
                ticket=decision.ticket,
                decision=decision,
                reviewer=agent,
                verdict="rejected",
                ai_category_slug=slug,
                final_category_slug=slug,
                reason_code="tone",
            )
        _audit(slug, "incorrect")
        Alert.objects.create(kind="sla_breach", message=f"Breach {slug}", dedupe_key=f"sla:{slug}:{next(_numbers)}")


def test_the_query_count_does_not_grow_with_categories_or_days(
    manager_client: Any, agent_user: Any, django_assert_max_num_queries: Any
) -> None:
    # The page alone is counted: the beat job's roll-up (RolledUpClient.get) runs before it.
    page = partial(Client.get, manager_client, URL, {"days": "90"})
    _spread_history(agent_user, categories=2, days=2)
    rollup_backfill(days=90)
    with CaptureQueriesContext(connection) as small:
        assert page().status_code == 200

    _spread_history(agent_user, categories=12, days=20)
    rollup_backfill(days=90)
    with CaptureQueriesContext(connection) as large:
        assert page().status_code == 200

    assert len(large.captured_queries) == len(small.captured_queries)
    rollup_backfill(days=30)
    with django_assert_max_num_queries(len(small.captured_queries)):
        Client.get(manager_client, URL, {"days": "30"})
