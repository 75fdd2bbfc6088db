"""The escalation policy: auto-send only when every condition holds, every failing one listed."""

from __future__ import annotations

from typing import Any

import pytest

from support.models import AutomationPolicy, Category, Customer, Team, Ticket
from support.reasons import reason_label
from triage.policy import PolicyVerdict, policy_evaluate

pytestmark = pytest.mark.django_db


@pytest.fixture
def cards(db: None) -> Team:
    return Team.objects.create(slug="cards", name="Cards")


@pytest.fixture
def harmless(cards: Team) -> Category:
    return Category.objects.create(slug="card_arrival", name="Card arrival", default_team=cards, auto_threshold=0.9,
                                   automation_policy=AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT)


def _ticket(*, vip: bool = False) -> Ticket:
    customer = Customer.objects.create(email=f"c{Customer.objects.count()}@example.com", vip=vip)
    return Ticket.objects.create(subject="Where is my card?", channel="webhook", source="test", customer=customer)


def _evaluate(category: Category | None, *, ticket: Ticket | None = None, team: Team | None = None,
              confidence: float | None = 0.97, high_stakes_probability: float | None = 0.001,
              risk_flags: list[str] | None = None, chain_healthy: bool = True) -> PolicyVerdict:
    return policy_evaluate(
        ticket=ticket or _ticket(), category=category,
        team=team if team is not None else (category.default_team if category else None),
        confidence=confidence, high_stakes_probability=high_stakes_probability,
        risk_flags=risk_flags or [], chain_healthy=chain_healthy,
    )


def test_a_confident_harmless_ticket_is_sent_automatically(harmless: Category) -> None:
    verdict = _evaluate(harmless)
    assert verdict == PolicyVerdict(auto_send=True, draft_allowed=True, reasons=[],
                                    policy=AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT)


@pytest.mark.parametrize("confidence", [0.5, 0.99, 1.0])
def test_a_high_stakes_category_always_goes_to_a_human(cards: Team, confidence: float) -> None:
    # Even with a threshold, a permissive team policy and certainty, high stakes means a human.
    category = Category.objects.create(slug="lost_or_stolen_card", name="Lost card", default_team=cards,
                                       high_stakes=True, auto_threshold=0.1,
                                       automation_policy=AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT)
    team = category.default_team
    team.automation_policy = AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT
    team.save()
    verdict = _evaluate(category, confidence=confidence, high_stakes_probability=0.0)
    assert not verdict.auto_send
    assert "high_stakes" in verdict.reasons


def test_high_stakes_probability_mass_on_a_harmless_label_goes_to_a_human(harmless: Category, settings: Any) -> None:
    # The top label is harmless and confident, but the model puts 5% on lost/stolen/fraud.
    settings.HIGH_STAKES_PROBABILITY_LIMIT = 0.02
    verdict = _evaluate(harmless, confidence=0.99, high_stakes_probability=0.05)
    assert not verdict.auto_send
    assert verdict.reasons == ["high_stakes_likely"]


def test_unknown_high_stakes_probability_is_treated_as_unsafe(harmless: Category) -> None:
    verdict = _evaluate(harmless, high_stakes_probability=None)
    assert not verdict.auto_send
    assert verdict.reasons == ["high_stakes_unknown"]


@pytest.mark.parametrize("flag", ["ungrounded", "injection_suspected", "legal_threat", "security_fraud",
                                  "churn_risk", "canary_leak", "some_future_flag"])
def test_any_risk_flag_sends_the_ticket_to_review_with_that_reason(harmless: Category, flag: str) -> None:
    verdict = _evaluate(harmless, risk_flags=[flag])
    assert not verdict.auto_send
    assert verdict.reasons == [flag]
    assert reason_label(flag)


def test_every_failing_condition_is_listed(harmless: Category, settings: Any) -> None:
    settings.AUTO_SEND_ENABLED = False
    harmless.braked = True
    harmless.save()
    verdict = _evaluate(harmless, ticket=_ticket(vip=True), confidence=0.5, high_stakes_probability=0.5,
                        risk_flags=["ungrounded", "injection_suspected"], chain_healthy=False)
    assert not verdict.auto_send
    assert verdict.reasons == ["high_stakes_likely", "low_confidence", "ungrounded", "injection_suspected",
                               "vip_customer", "category_braked", "provider_degraded", "auto_send_disabled"]


def test_a_category_without_calibrated_threshold_stays_on_human_review(harmless: Category) -> None:
    harmless.auto_threshold = None
    harmless.save()
    verdict = _evaluate(harmless, confidence=0.999)
    assert not verdict.auto_send
    assert verdict.reasons == ["no_calibrated_threshold"]


def test_confidence_exactly_at_the_threshold_passes(harmless: Category) -> None:
    assert _evaluate(harmless, confidence=0.9).auto_send
    assert _evaluate(harmless, confidence=0.8999).reasons == ["low_confidence"]


def test_no_ai_answer_goes_to_review(harmless: Category) -> None:
    verdict = _evaluate(harmless, confidence=None)
    assert verdict.reasons == ["ai_unavailable"]
    verdict = _evaluate(None, confidence=None)
    assert not verdict.auto_send
    assert verdict.reasons[:2] == ["ai_unavailable", "no_category"]
    assert verdict.policy == AutomationPolicy.ALWAYS_REVIEW


def test_the_team_policy_overrides_the_category_policy(harmless: Category) -> None:
    team = harmless.default_team
    team.automation_policy = AutomationPolicy.ALWAYS_REVIEW
    team.save()
    verdict = _evaluate(harmless, team=team)
    assert verdict.policy == AutomationPolicy.ALWAYS_REVIEW
    assert verdict.reasons == ["policy_always_review"]

    # And the other way round: a team may allow what its category's default does not.
    category = Category.objects.create(slug="card_linking", name="Card linking", default_team=team,
                                       automation_policy=AutomationPolicy.ALWAYS_REVIEW, auto_threshold=0.5)
    team.automation_policy = AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT
    team.save()
    assert _evaluate(category, team=team).auto_send


def test_draft_only_forbids_drafts_and_auto_send(harmless: Category) -> None:
    harmless.automation_policy = AutomationPolicy.DRAFT_ONLY
    harmless.save()
    verdict = _evaluate(harmless)
    assert (verdict.auto_send, verdict.draft_allowed, verdict.policy) == (False, False, AutomationPolicy.DRAFT_ONLY)
    assert verdict.reasons == ["policy_draft_only"]

