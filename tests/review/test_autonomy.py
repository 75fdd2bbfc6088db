"""Human on the loop: audit sampling, grading, the autonomy brake and a manager's resume."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from review.autonomy import (
    audit_grade_record,
    audited_error,
    automation_record_sent,
    automation_resume,
    brake_evaluate,
)
from review.models import AuditSample
from support.models import Alert, AutomationPolicy, Category, Customer, OutboundMessage, Team, Ticket
from triage.models import AutomationEvent, TriageDecision
from triage.policy import policy_evaluate
from triage.statistics import error_lower_bound, error_upper_bound

pytestmark = pytest.mark.django_db


@pytest.fixture
def card_arrival(db: None) -> Category:
    team = Team.objects.create(slug="cards", name="Cards")
    return Category.objects.create(slug="card_arrival", name="Card arrival", default_team=team, auto_threshold=0.8,
                                   automation_policy=AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT)


def _auto_sent(category: Category, index: int, *, confidence: float = 0.95) -> tuple[Ticket, OutboundMessage,
                                                                                        TriageDecision]:
    customer, _ = Customer.objects.get_or_create(email="audit@example.com")
    ticket = Ticket.objects.create(subject=f"t{index}", channel="email", source="email", customer=customer,
                                   category=category, status=Ticket.Status.AUTO_REPLIED)
    decision = TriageDecision.objects.create(ticket=ticket, provider="local", category_slug=category.slug,
                                             confidence=confidence, needs_review=False, is_final=True, succeeded=True)
    outbound = OutboundMessage.objects.create(ticket=ticket, kind=OutboundMessage.Kind.EMAIL, to_address=customer.email,
                                              body_text="Your card is on its way.", auto_submitted=True,
                                              idempotency_key=f"auto:{ticket.pk}")
    return ticket, outbound, decision


def _auto_sent_many(category: Category, count: int) -> list[tuple[Ticket, OutboundMessage, TriageDecision]]:
    customer, _ = Customer.objects.get_or_create(email="audit@example.com")
    tickets = Ticket.objects.bulk_create([
        Ticket(subject=f"bulk {index}", channel="email", source="email", customer=customer, category=category,
               status=Ticket.Status.AUTO_REPLIED) for index in range(count)
    ])
    decisions = TriageDecision.objects.bulk_create([
        TriageDecision(ticket=ticket, provider="local", category_slug=category.slug, confidence=0.95,
                       needs_review=False, is_final=True, succeeded=True) for ticket in tickets
    ])
    outbounds = OutboundMessage.objects.bulk_create([
        OutboundMessage(ticket=ticket, kind=OutboundMessage.Kind.EMAIL, to_address=customer.email, body_text="Hi",
                        auto_submitted=True, idempotency_key=f"auto:{ticket.pk}") for ticket in tickets
    ])
    return list(zip(tickets, outbounds, decisions, strict=True))


def _graded(category: Category, grader: Any, grades: list[str]) -> list[AuditSample]:
    samples = []
    for index, grade in enumerate(grades):
        ticket, outbound, decision = _auto_sent(category, index)
        sample = AuditSample.objects.create(ticket=ticket, outbound=outbound, decision=decision,
                                            category_slug=category.slug)
        audit_grade_record(sample=sample, grade=grade, reason_code="wrong_facts" if grade == "incorrect" else "",
                           grader=grader)
        samples.append(sample)
    return samples


def test_bounds_are_exact_clopper_pearson() -> None:
    # Known values: 0 errors in 149 → upper ≈ 1.99%; 3 of 5 → lower ≈ 18.9%.
    assert error_upper_bound(errors=0, total=149) == pytest.approx(0.0199, abs=1e-4)
    assert error_upper_bound(errors=0, total=148) > 0.02
    assert error_lower_bound(errors=3, total=5) == pytest.approx(0.1893, abs=1e-3)
    assert (error_upper_bound(errors=0, total=0), error_lower_bound(errors=0, total=10)) == (1.0, 0.0)


def test_the_configured_share_of_auto_sent_replies_is_audited(card_arrival: Category, settings: Any) -> None:
    settings.AUDIT_SAMPLE_RATE = 0.05
    sent = _auto_sent_many(card_arrival, 2000)
    samples = [automation_record_sent(ticket=t, outbound=o, decision=d) for t, o, d in sent]
    sampled = [sample for sample in samples if sample is not None]
    # Binomial(2000, 5%): mean 100, sd 9.7; ±4 sd.
    assert 61 <= len(sampled) <= 139
    assert AuditSample.objects.count() == len(sampled)
    assert {sample.category_slug for sample in sampled} == {"card_arrival"}
    # A retried transaction neither samples twice nor changes its mind.
    again = [automation_record_sent(ticket=t, outbound=o, decision=d) for t, o, d in sent[:200]]
    assert [sample.pk if sample else None for sample in again] == [s.pk if s else None for s in samples[:200]]
    assert AuditSample.objects.count() == len(sampled)


@pytest.mark.parametrize("rate, expected", [(0.0, 0), (1.0, 20)])
def test_audit_rate_bounds(card_arrival: Category, settings: Any, rate: float, expected: int) -> None:
    settings.AUDIT_SAMPLE_RATE = rate
    for index in range(20):
        ticket, outbound, decision = _auto_sent(card_arrival, index)
        automation_record_sent(ticket=ticket, outbound=outbound, decision=decision)
    assert AuditSample.objects.count() == expected


def test_the_brake_engages_when_audited_error_is_significantly_above_target(
    card_arrival: Category, agent_user: Any, settings: Any
) -> None:
    # Given target 2% and 3 bad replies among 10 graded (lower 95% bound 8.7% > 2%)
    settings.TARGET_ERROR = 0.02
    _graded(card_arrival, agent_user, ["correct"] * 7 + ["incorrect"] * 2)
    card_arrival.refresh_from_db()
    assert not card_arrival.braked  # 9 grades: below the minimum evidence
    _graded(card_arrival, agent_user, ["incorrect"])
    # Then automation pauses for the category, with the reason recorded and a manager alert
    card_arrival.refresh_from_db()
    assert card_arrival.braked and card_arrival.braked_at is not None
    assert "3/10" in card_arrival.braked_reason
    event = AutomationEvent.objects.get(category=card_arrival, verb=AutomationEvent.Verb.BRAKED)
    assert (event.evidence["graded"], event.evidence["incorrect"]) == (10, 3)
    assert event.evidence["lower_bound"] > 0.02
    alert = Alert.objects.get(kind=Alert.Kind.AUTOMATION_BRAKED)
    assert "card_arrival" in alert.message
    # And the policy now refuses to auto-send it, saying why
    customer = Customer.objects.create(email="next@example.com")
    ticket = Ticket.objects.create(subject="s", channel="email", source="email", customer=customer)
    verdict = policy_evaluate(ticket=ticket, category=card_arrival, team=card_arrival.default_team, confidence=0.99,
                              high_stakes_probability=0.0, risk_flags=[], chain_healthy=True)
    assert verdict.reasons == ["category_braked"]
    # Further grades do not brake it twice
    _graded(card_arrival, agent_user, ["incorrect"])
    assert AutomationEvent.objects.filter(verb=AutomationEvent.Verb.BRAKED).count() == 1
    assert Alert.objects.count() == 1


def test_an_error_rate_within_target_does_not_brake(card_arrival: Category, agent_user: Any, settings: Any) -> None:
    settings.TARGET_ERROR = 0.02
    # 1 bad of 60 (1.7% observed): not significantly above 2%.
    _graded(card_arrival, agent_user, ["correct"] * 59 + ["incorrect"])
    assert not brake_evaluate(category=card_arrival)
    card_arrival.refresh_from_db()
    assert not card_arrival.braked
    measured = audited_error(category=card_arrival)
    assert (measured.graded, measured.incorrect) == (60, 1)


def test_a_manager_resumes_and_old_grades_no_longer_count(
    card_arrival: Category, agent_user: Any, manager_user: Any, settings: Any
) -> None:
    settings.TARGET_ERROR = 0.02
    _graded(card_arrival, agent_user, ["incorrect"] * 10)
    card_arrival.refresh_from_db()
    assert card_arrival.braked

    with pytest.raises(PermissionDenied):
        automation_resume(category=card_arrival, actor=agent_user, reason="looks fine")
    automation_resume(category=card_arrival, actor=manager_user, reason="KB article fixed")
    card_arrival.refresh_from_db()
    assert (card_arrival.braked, card_arrival.braked_reason, card_arrival.braked_at) == (False, "", None)
    resumed = AutomationEvent.objects.get(verb=AutomationEvent.Verb.RESUMED)
    assert (resumed.actor, resumed.reason) == (manager_user, "KB article fixed")
    assert resumed.evidence["previous"]["braked"] is True

    # The window restarts at the resume: ten good grades do not re-brake on the old bad ones.
    _graded(card_arrival, agent_user, ["correct"] * 10)
    card_arrival.refresh_from_db()
    assert not card_arrival.braked
    assert audited_error(category=card_arrival).graded == 10


def test_grades_are_validated(card_arrival: Category, agent_user: Any) -> None:
    ticket, outbound, decision = _auto_sent(card_arrival, 1)
    sample = AuditSample.objects.create(ticket=ticket, outbound=outbound, decision=decision, category_slug="card_arrival")
    with pytest.raises(ValueError):
        audit_grade_record(sample=sample, grade="meh", reason_code="", grader=agent_user)
    with pytest.raises(ValueError):
        audit_grade_record(sample=sample, grade="incorrect", reason_code="bad vibes", grader=agent_user)
    audit_grade_record(sample=sample, grade="incorrect", reason_code="tone", grader=agent_user)
    sample.refresh_from_db()
    assert (sample.grade, sample.reason_code, sample.graded_by) == ("incorrect", "tone", agent_user)
    assert ticket.events.filter(verb="audit_graded").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_graders_finishing_together_brake_once(card_arrival: Category, make_user: Any, settings: Any) -> None:
    # Given 9 bad grades already, when four reviewers grade the last bad replies at the same
    # moment on their own connections, then the category is braked once: one event, one alert.
    import threading

    from django.db import connection

    settings.TARGET_ERROR = 0.02
    graders = [make_user(f"grader{index}") for index in range(4)]
    _graded(card_arrival, graders[0], ["incorrect"] * 9)
    pending = []
    for index in range(4):
        ticket, outbound, decision = _auto_sent(card_arrival, 100 + index)
        pending.append(AuditSample.objects.create(ticket=ticket, outbound=outbound, decision=decision,
                                                  category_slug=card_arrival.slug))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def grade(sample: AuditSample, grader: Any) -> None:
        try:
            barrier.wait()
            audit_grade_record(sample=sample, grade="incorrect", reason_code="wrong_facts", grader=grader)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=grade, args=pair) for pair in zip(pending, graders, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    card_arrival.refresh_from_db()
    assert card_arrival.braked
    assert AutomationEvent.objects.filter(category=card_arrival, verb=AutomationEvent.Verb.BRAKED).count() == 1
    assert Alert.objects.filter(kind=Alert.Kind.AUTOMATION_BRAKED).count() == 1
