"""Threshold calibration from a simulated review history, checked on fresh simulated tickets,
and the brake engaging when audited errors are injected afterwards."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command

from review.autonomy import audit_grade_record
from review.calibration import EDIT_DISTANCE_CUTOFF, ReviewedDecision, outcome_is_error, threshold_choose
from review.models import AuditSample, ReviewOutcome
from support.models import AutomationPolicy, Category, Customer, OutboundMessage, Team, Ticket
from triage.models import AutomationEvent, TriageDecision

pytestmark = pytest.mark.django_db

TARGET = 0.02


def well_behaved(confidence: np.ndarray) -> np.ndarray:
    """A model that is wrong more often when unsure: 40% x (1 - confidence)^2."""
    return 0.4 * (1 - confidence) ** 2


def always_shaky(confidence: np.ndarray) -> np.ndarray:
    """A category the model gets wrong 25% of the time whatever it says."""
    return np.full_like(confidence, 0.25)


def _confidences(rng: np.random.Generator, count: int) -> np.ndarray:
    # Skewed towards high confidence, like a real classifier on its own domain.
    return 1 - 0.7 * rng.beta(1.0, 3.0, size=count)


def _history(*, category: Category, count: int, error_model: Callable[[np.ndarray], np.ndarray],
             rng: np.random.Generator, reviewer: Any) -> int:
    """Write ``count`` reviewed AI decisions for ``category``: tickets, final decisions and the
    reviewer's outcome, with errors of every kind (recategorised, rejected, rewritten)."""
    confidences = _confidences(rng, count)
    wrong = rng.random(count) < error_model(confidences)
    customer, _ = Customer.objects.get_or_create(email="history@example.com")
    tickets = Ticket.objects.bulk_create([
        Ticket(subject=f"{category.slug} {index}", channel="email", source="email", customer=customer,
               category=category, status=Ticket.Status.REPLIED) for index in range(count)
    ])
    decisions = TriageDecision.objects.bulk_create([
        TriageDecision(ticket=ticket, provider="local", category_slug=category.slug, confidence=float(confidence),
                       is_final=True, succeeded=True)
        for ticket, confidence in zip(tickets, confidences, strict=True)
    ])
    outcomes = []
    for index, (ticket, decision, is_wrong) in enumerate(zip(tickets, decisions, wrong, strict=True)):
        base = {"ticket": ticket, "decision": decision, "reviewer": reviewer, "ai_category_slug": category.slug,
                "final_category_slug": category.slug}
        if not is_wrong:
            # Approved with light edits (below the rewrite cut-off): not an error.
            outcomes.append(ReviewOutcome(verdict=ReviewOutcome.Decision.APPROVED,
                                          edit_distance=float(rng.uniform(0, EDIT_DISTANCE_CUTOFF)), **base))
        elif index % 3 == 0:
            outcomes.append(ReviewOutcome(verdict=ReviewOutcome.Decision.OVERRIDDEN, reason_code="wrong_category",
                                          **{**base, "final_category_slug": "something_else"}))
        elif index % 3 == 1:
            outcomes.append(ReviewOutcome(verdict=ReviewOutcome.Decision.REJECTED, reason_code="wrong_facts", **base))
        else:
            outcomes.append(ReviewOutcome(verdict=ReviewOutcome.Decision.APPROVED, edit_distance=0.7, **base))
    # Snoozes and escalations are no verdict on the AI: calibration must ignore them.
    outcomes += [ReviewOutcome(verdict=ReviewOutcome.Decision.SNOOZED, ticket=tickets[0], decision=decisions[0],
                               reviewer=reviewer, ai_category_slug=category.slug)]
    ReviewOutcome.objects.bulk_create(outcomes)
    return int(wrong.sum())


def _realised_error(*, threshold: float, error_model: Callable[[np.ndarray], np.ndarray], seed: int) -> tuple[float, int]:
    """Error rate of what would be auto-sent among 200,000 fresh simulated tickets."""
    rng = np.random.default_rng(seed)
    confidences = _confidences(rng, 200_000)
    wrong = rng.random(confidences.size) < error_model(confidences)
    sent = confidences >= threshold
    return float(wrong[sent].mean()), int(sent.sum())


@pytest.fixture
def tenant(db: None) -> dict[str, Category]:
    cards = Team.objects.create(slug="cards", name="Cards")
    cash = Team.objects.create(slug="cash", name="Cash")
    policy = AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT
    return {
        slug: Category.objects.create(slug=slug, name=slug, default_team=team, automation_policy=policy)
        for slug, team in (("card_arrival", cards), ("card_linking", cards), ("pin_blocked", cards),
                           ("atm_support", cash), ("cash_withdrawal_charge", cash))
    }


def test_calibrated_thresholds_hold_the_target_on_fresh_tickets(
    tenant: dict[str, Category], agent_user: Any, manager_user: Any, settings: Any
) -> None:
    # Given a simulated review history: two well-behaved busy categories, a sparse one in the
    # same team, a busy category the model always gets wrong 25% of the time, and one unseen.
    settings.TARGET_ERROR = TARGET
    rng = np.random.default_rng(20261127)
    models = {"card_arrival": well_behaved, "card_linking": well_behaved, "pin_blocked": well_behaved,
              "atm_support": always_shaky}
    sizes = {"card_arrival": 1500, "card_linking": 1500, "pin_blocked": 40, "atm_support": 600}
    for slug, count in sizes.items():
        _history(category=tenant[slug], count=count, error_model=models[slug], rng=rng, reviewer=agent_user)

    # When calibrate_thresholds runs
    out = io.StringIO()
    call_command("calibrate_thresholds", "--target-error", str(TARGET), stdout=out)
    table = out.getvalue()

    # Then it prints a table with the evidence of every category
    assert table.splitlines()[0] == "calibrating settings mode"  # no configuration in production
    assert table.splitlines()[1].split()[:5] == ["category", "team", "reviewed", "errors", "threshold"]
    assert "3/5 categories calibrated at target error 2.00%" in table
    stored = {category.slug: category for category in Category.objects.all()}

    # The busy well-behaved categories get a threshold from their own evidence, and what it
    # lets through on fresh tickets from the same process stays within the target.
    for seed, slug in enumerate(("card_arrival", "card_linking", "pin_blocked")):
        category = stored[slug]
        assert category.auto_threshold is not None, slug
        assert 0.5 < category.auto_threshold < 0.97, (slug, category.auto_threshold)  # useful, not trivial
        realised, sent = _realised_error(threshold=category.auto_threshold, error_model=well_behaved, seed=seed)
        assert sent > 20_000
        assert realised <= TARGET, (slug, category.auto_threshold, realised)
        assert category.threshold_evidence["pool_upper_bound"] <= TARGET
        assert category.threshold_evidence["target_error"] == TARGET
    assert stored["card_arrival"].threshold_evidence["source"] == "category"
    # The sparse category borrows its team's pooled threshold.
    assert stored["pin_blocked"].threshold_evidence["source"] == "team:cards"
    assert stored["pin_blocked"].threshold_evidence["own_reviewed"] == 40
    # The shaky category has plenty of evidence, all of it bad: human review, no borrowing.
    assert stored["atm_support"].auto_threshold is None
    assert stored["atm_support"].threshold_evidence["source"] == "none"
    # No evidence at all: human review.
    assert stored["cash_withdrawal_charge"].auto_threshold is None
    assert stored["cash_withdrawal_charge"].threshold_evidence["own_reviewed"] == 0
    events = AutomationEvent.objects.filter(verb=AutomationEvent.Verb.THRESHOLD_SET)
    assert set(events.values_list("category__slug", flat=True)) == {"card_arrival", "card_linking", "pin_blocked"}

    # And when, later, auto-sent replies of card_arrival are audited and graded by the same
    # process, the brake stays off; once errors are injected, it engages.
    category = stored["card_arrival"]
    confidences = np.clip(_confidences(rng, 400), category.auto_threshold, 1.0)[:100]
    truly_wrong = rng.random(confidences.size) < well_behaved(confidences)
    samples = _audit_samples(category, confidences)
    for sample, wrong in zip(samples, truly_wrong, strict=True):
        audit_grade_record(sample=sample, grade="incorrect" if wrong else "correct", reason_code="", grader=manager_user)
    category.refresh_from_db()
    assert not category.braked
    for sample in _audit_samples(category, np.full(10, 0.99)):
        audit_grade_record(sample=sample, grade="incorrect", reason_code="wrong_facts", grader=manager_user)
    category.refresh_from_db()
    assert category.braked
    assert AutomationEvent.objects.filter(category=category, verb=AutomationEvent.Verb.BRAKED).count() == 1


def _audit_samples(category: Category, confidences: np.ndarray) -> list[AuditSample]:
    customer, _ = Customer.objects.get_or_create(email="audited@example.com")
    tickets = Ticket.objects.bulk_create([
        Ticket(subject="auto", channel="email", source="email", customer=customer, category=category,
               status=Ticket.Status.AUTO_REPLIED) for _ in confidences
    ])
    decisions = TriageDecision.objects.bulk_create([
        TriageDecision(ticket=ticket, provider="local", category_slug=category.slug, confidence=float(confidence),
                       needs_review=False, is_final=True, succeeded=True)
        for ticket, confidence in zip(tickets, confidences, strict=True)
    ])
    outbounds = OutboundMessage.objects.bulk_create([
        OutboundMessage(ticket=ticket, kind=OutboundMessage.Kind.EMAIL, to_address=customer.email, body_text="Hi",
                        auto_submitted=True, idempotency_key=f"auto:{ticket.pk}") for ticket in tickets
    ])
    return AuditSample.objects.bulk_create([
        AuditSample(ticket=ticket, outbound=outbound, decision=decision, category_slug=category.slug)
        for ticket, outbound, decision in zip(tickets, outbounds, decisions, strict=True)
    ])


def test_the_lowest_threshold_whose_corrected_upper_bound_holds_is_chosen() -> None:
    # 600 decisions at 0.99 without error, then 600 at 0.6 of which 60 wrong.
    decisions = [ReviewedDecision("a", 0.99, False)] * 600 + [ReviewedDecision("a", 0.6, index < 60) for index in range(600)]
    choice = threshold_choose(decisions=decisions, target_error=TARGET)
    # the lowest grid point that keeps the 0.6 ones out
    assert choice.threshold == 0.61
    assert (choice.above, choice.errors_above, choice.total, choice.errors) == (600, 0, 1200, 60)
    # With the 0.6 decisions all right, a threshold that lets them through qualifies.
    decisions = [ReviewedDecision("a", 0.99, False)] * 600 + [ReviewedDecision("a", 0.6, False)] * 600
    assert threshold_choose(decisions=decisions, target_error=TARGET).above == 1200
    # 300 perfect decisions prove 2% for one threshold (149 would), but not at the level corrected
    # for trying all 100 grid points (triage.statistics): that takes 377.
    assert threshold_choose(decisions=[ReviewedDecision("a", 0.9, False)] * 300, target_error=TARGET).threshold is None
    assert threshold_choose(decisions=[ReviewedDecision("a", 0.9, False)] * 377, target_error=TARGET).above == 377


@pytest.mark.parametrize("verdict, ai, final, edit, expected", [
    ("approved", "a", "a", 0.05, False),
    ("approved", "a", "a", None, False),
    ("approved", "a", "a", EDIT_DISTANCE_CUTOFF + 0.01, True),
    ("approved", "a", "b", 0.0, True),
    ("overridden", "a", "a", None, True),
    ("rejected", "a", "", None, True),
])
def test_what_counts_as_an_ai_error(verdict: str, ai: str, final: str, edit: float | None, expected: bool) -> None:
    assert outcome_is_error(verdict=verdict, ai_category_slug=ai, final_category_slug=final,
                            edit_distance=edit) is expected


def test_dry_run_stores_nothing(tenant: dict[str, Category], agent_user: Any) -> None:
    _history(category=tenant["card_arrival"], count=400, error_model=lambda c: np.zeros_like(c),
             rng=np.random.default_rng(1), reviewer=agent_user)
    out = io.StringIO()
    call_command("calibrate_thresholds", "--target-error", "0.02", "--dry-run", stdout=out)
    assert "dry run: nothing stored" in out.getvalue()
    assert Category.objects.get(slug="card_arrival").auto_threshold is None
    call_command("calibrate_thresholds", "--target-error", "0.02", stdout=io.StringIO())
    assert Category.objects.get(slug="card_arrival").auto_threshold is not None


def test_sparse_categories_borrow_team_then_global_unless_demonstrably_worse(
    tenant: dict[str, Category], agent_user: Any
) -> None:
    rng = np.random.default_rng(7)
    _history(category=tenant["card_arrival"], count=1500, error_model=well_behaved, rng=rng, reviewer=agent_user)
    # Sparse and bad: half wrong whatever the confidence. (Its errors also make the pools it is in
    # stricter: pools include every category, which errs on the safe side.)
    _history(category=tenant["pin_blocked"], count=12, error_model=lambda c: np.full_like(c, 0.5), rng=rng,
             reviewer=agent_user)
    # Sparse and good, alone in its team: borrows the global threshold.
    _history(category=tenant["atm_support"], count=40, error_model=well_behaved, rng=rng, reviewer=agent_user)
    # Too little evidence of its own to borrow anything.
    _history(category=tenant["card_linking"], count=5, error_model=well_behaved, rng=rng, reviewer=agent_user)
    call_command("calibrate_thresholds", "--target-error", str(TARGET), stdout=io.StringIO())
    stored = {category.slug: category for category in Category.objects.all()}
    assert stored["card_arrival"].threshold_evidence["source"] == "category"
    assert (stored["pin_blocked"].auto_threshold, stored["pin_blocked"].threshold_evidence["source"]) == (None, "none")
    assert stored["atm_support"].threshold_evidence["source"] == "global"
    assert stored["atm_support"].auto_threshold is not None
    assert (stored["card_linking"].auto_threshold, stored["card_linking"].threshold_evidence["source"]) == (None, "none")
