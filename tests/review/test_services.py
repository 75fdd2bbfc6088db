"""Review services against the real database: claims, decisions and the review record."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from review import services
from review.edit_distance import edit_distance_normalised, levenshtein
from review.models import AuditSample, ReviewOutcome
from review.services import ClaimHeldError, ReviewError
from review.tasks import expire_claims_task
from support.models import AgentProfile, OutboundMessage, Ticket
from triage.models import TriageDecision

pytestmark = pytest.mark.django_db


# --- claiming ------------------------------------------------------------------------------------


def test_next_ticket_claims_the_most_urgent_first(make_review_ticket, make_user):
    later = make_review_ticket(due_in=timedelta(hours=8))
    sooner = make_review_ticket(due_in=timedelta(minutes=20))
    no_sla = make_review_ticket(due_in=None)

    claimed = [services.review_claim_next(agent=make_user(f"agent-{i}")).ticket for i in range(3)]

    assert [ticket.pk for ticket in claimed] == [sooner.pk, later.pk, no_sla.pk]


def test_two_agents_never_get_the_same_ticket(make_review_ticket, make_user):
    first, second = make_review_ticket(), make_review_ticket()
    agent_a, agent_b = make_user("agent-a"), make_user("agent-b")

    got_a = services.review_claim_next(agent=agent_a).ticket
    got_b = services.review_claim_next(agent=agent_b).ticket

    assert {got_a.pk, got_b.pk} == {first.pk, second.pk}
    assert services.review_claim_next(agent=make_user("agent-c")).ticket is None


def test_taking_the_next_ticket_hands_back_the_previous_one(make_review_ticket, agent_user):
    first, second = make_review_ticket(due_in=timedelta(minutes=5)), make_review_ticket()
    services.review_claim_next(agent=agent_user)

    result = services.review_claim_next(agent=agent_user, skip_ticket_id=first.pk)

    assert result.ticket.pk == second.pk
    assert result.released == [first.pk]
    first.refresh_from_db()
    assert first.claimed_by is None


def test_an_expired_claim_is_free_for_a_colleague(make_review_ticket, make_user):
    ticket = make_review_ticket()
    away, present = make_user("away"), make_user("present")
    services.review_claim_next(agent=away)
    Ticket.objects.filter(pk=ticket.pk).update(
        claim_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert services.review_claim_next(agent=present).ticket.pk == ticket.pk


def test_snoozed_and_escalated_tickets_are_not_handed_to_agents(
    make_review_ticket, agent_user, manager_user
):
    snoozed = make_review_ticket()
    escalated = make_review_ticket()
    Ticket.objects.filter(pk=snoozed.pk).update(snoozed_until=timezone.now() + timedelta(hours=1))
    Ticket.objects.filter(pk=escalated.pk).update(escalated_to_manager=True)

    assert services.review_claim_next(agent=agent_user).ticket is None
    assert services.review_claim_next(agent=manager_user).ticket.pk == escalated.pk


def test_agents_only_get_their_teams_tickets(make_review_ticket, make_user, catalogue):
    cards_ticket = make_review_ticket(team_slug="cards", due_in=timedelta(hours=2))
    make_review_ticket(team_slug="payments", due_in=timedelta(minutes=1))
    agent = make_user("cards-agent")
    profile = AgentProfile.objects.create(user=agent)
    profile.teams.set([catalogue["teams"]["cards"]])

    assert services.review_claim_next(agent=agent).ticket.pk == cards_ticket.pk
    assert services.review_claim_next(agent=agent, skip_ticket_id=cards_ticket.pk).ticket is None


def test_claiming_a_ticket_held_by_a_colleague_says_who(make_review_ticket, make_user):
    ticket = make_review_ticket()
    holder, other = make_user("holder"), make_user("other")
    services.review_claim(ticket_id=ticket.pk, agent=holder)

    with pytest.raises(ClaimHeldError) as error:
        services.review_claim(ticket_id=ticket.pk, agent=other)
    assert error.value.holder == "holder"


def test_heartbeat_extends_the_lease_until_the_claim_is_lost(
    make_review_ticket, make_user, settings
):
    ticket = make_review_ticket()
    agent, colleague = make_user("hb-agent"), make_user("hb-colleague")
    services.review_claim(ticket_id=ticket.pk, agent=agent)
    Ticket.objects.filter(pk=ticket.pk).update(
        claim_expires_at=timezone.now() + timedelta(seconds=5)
    )

    until = services.review_heartbeat(ticket_id=ticket.pk, agent=agent)
    assert until is not None and until > timezone.now() + timedelta(
        seconds=settings.REVIEW_CLAIM_SECONDS - 5
    )

    Ticket.objects.filter(pk=ticket.pk).update(
        claim_expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.review_claim(ticket_id=ticket.pk, agent=colleague)
    assert services.review_heartbeat(ticket_id=ticket.pk, agent=agent) is None


def test_expire_claims_task_clears_abandoned_leases(make_review_ticket, agent_user):
    abandoned, live = make_review_ticket(), make_review_ticket()
    now = timezone.now()
    Ticket.objects.filter(pk=abandoned.pk).update(
        claimed_by=agent_user,
        claimed_at=now - timedelta(minutes=10),
        claim_expires_at=now - timedelta(minutes=5),
    )
    Ticket.objects.filter(pk=live.pk).update(
        claimed_by=agent_user, claimed_at=now, claim_expires_at=now + timedelta(minutes=5)
    )

    assert expire_claims_task.delay().get() == 1
    abandoned.refresh_from_db()
    live.refresh_from_db()
    assert abandoned.claimed_by is None and live.claimed_by_id == agent_user.pk


# --- decisions -----------------------------------------------------------------------------------


def _claimed(make_review_ticket, agent, **kwargs):
    ticket = make_review_ticket(**kwargs)
    services.review_claim(ticket_id=ticket.pk, agent=agent)
    return ticket


def test_approve_sends_one_reply_and_records_the_edit(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    edited = decision.reply_draft.replace("5 working days", "7 working days").replace("\n", "\r\n")

    outcome = services.review_approve(ticket_id=ticket.pk, agent=agent_user, body_text=edited)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.REPLIED and ticket.claimed_by is None
    outbound = OutboundMessage.objects.get(ticket=ticket)
    assert outbound.idempotency_key == f"review:{ticket.pk}:{decision.pk}"
    assert outbound.created_by == agent_user and not outbound.auto_submitted
    assert "\r" not in outbound.body_text and "7 working days" in outbound.body_text
    assert outcome.verdict == ReviewOutcome.Decision.APPROVED
    assert outcome.decision == decision and outcome.reviewer == agent_user
    assert outcome.draft_text == decision.reply_draft and outcome.sent_text == outbound.body_text
    assert outcome.edit_distance == pytest.approx(1 / len(decision.reply_draft), abs=1e-3)
    assert (
        outcome.ai_category_slug == "card_arrival" and outcome.final_category_slug == "card_arrival"
    )
    assert outcome.seconds_to_decision is not None and outcome.seconds_to_decision >= 0


def test_approving_the_unchanged_draft_has_zero_edit_distance(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)
    draft = TriageDecision.objects.get(ticket=ticket).reply_draft

    outcome = services.review_approve(
        ticket_id=ticket.pk, agent=agent_user, body_text=draft.replace("\n", "\r\n") + "\r\n"
    )

    assert outcome.edit_distance == 0.0


def test_a_double_approve_produces_one_outbound_message(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)

    first = services.review_approve(
        ticket_id=ticket.pk, agent=agent_user, body_text="Thanks, it is on its way."
    )
    second = services.review_approve(
        ticket_id=ticket.pk, agent=agent_user, body_text="Thanks, it is on its way."
    )

    assert first.pk == second.pk
    assert OutboundMessage.objects.filter(ticket=ticket).count() == 1
    assert ReviewOutcome.objects.filter(ticket=ticket).count() == 1


def test_a_colleague_cannot_decide_on_a_claimed_ticket(make_review_ticket, make_user):
    holder, other = make_user("holder"), make_user("other")
    ticket = _claimed(make_review_ticket, holder)

    with pytest.raises(ClaimHeldError):
        services.review_approve(ticket_id=ticket.pk, agent=other, body_text="Hello")
    assert not OutboundMessage.objects.filter(ticket=ticket).exists()


def test_an_empty_reply_is_refused(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)
    with pytest.raises(ReviewError):
        services.review_approve(ticket_id=ticket.pk, agent=agent_user, body_text=" \r\n ")


def test_reject_without_a_reply_closes_the_ticket_with_a_reason(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user, risk_flags=["injection_suspected"])

    outcome = services.review_reject(ticket_id=ticket.pk, agent=agent_user, reason_code="injection")

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED
    assert outcome.verdict == ReviewOutcome.Decision.REJECTED and outcome.reason_code == "injection"
    assert not OutboundMessage.objects.filter(ticket=ticket).exists()


def test_reject_with_an_own_reply_sends_it_instead_of_the_draft(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)

    outcome = services.review_reject(
        ticket_id=ticket.pk,
        agent=agent_user,
        reason_code="wrong_facts",
        own_reply="Your card was cancelled; a new one is on its way.",
    )

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.REPLIED
    assert OutboundMessage.objects.get(ticket=ticket).body_text.startswith(
        "Your card was cancelled"
    )
    assert outcome.reason_code == "wrong_facts" and 0 < outcome.edit_distance <= 1


def test_reject_needs_a_known_reason(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)
    with pytest.raises(ReviewError):
        services.review_reject(ticket_id=ticket.pk, agent=agent_user, reason_code="")


def test_override_records_each_changed_field(make_review_ticket, agent_user, catalogue):
    ticket = _claimed(make_review_ticket, agent_user)

    outcome = services.review_override(
        ticket_id=ticket.pk,
        agent=agent_user,
        category=catalogue["categories"]["lost_or_stolen_card"],
        priority="urgent",
        team=catalogue["teams"]["cards"],  # unchanged team: not recorded
    )

    assert outcome.verdict == ReviewOutcome.Decision.OVERRIDDEN
    assert outcome.overrides == {
        "category": {"old": "card_arrival", "new": "lost_or_stolen_card"},
        "priority": {"old": "normal", "new": "urgent"},
    }
    assert (
        outcome.ai_category_slug == "card_arrival"
        and outcome.final_category_slug == "lost_or_stolen_card"
    )
    ticket.refresh_from_db()
    assert ticket.category.slug == "lost_or_stolen_card" and ticket.priority == "urgent"
    assert ticket.claimed_by == agent_user  # still theirs to answer


def test_an_override_that_changes_nothing_writes_nothing(make_review_ticket, agent_user, catalogue):
    ticket = _claimed(make_review_ticket, agent_user)
    assert (
        services.review_override(
            ticket_id=ticket.pk, agent=agent_user, category=catalogue["categories"]["card_arrival"]
        )
        is None
    )
    assert not ReviewOutcome.objects.filter(ticket=ticket).exists()


def test_escalate_hands_the_ticket_to_managers(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)

    outcome = services.review_escalate(
        ticket_id=ticket.pk, agent=agent_user, note="Customer threatens to sue"
    )

    ticket.refresh_from_db()
    assert ticket.escalated_to_manager and ticket.escalated_to_manager_at and ticket.claimed_by is None
    assert (
        outcome.verdict == ReviewOutcome.Decision.ESCALATED
        and outcome.note == "Customer threatens to sue"
    )


def test_snooze_puts_the_ticket_aside(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)

    outcome = services.review_snooze(ticket_id=ticket.pk, agent=agent_user, minutes=60)

    ticket.refresh_from_db()
    assert ticket.snoozed_until > timezone.now() + timedelta(minutes=59)
    assert outcome.verdict == ReviewOutcome.Decision.SNOOZED
    assert services.review_claim_next(agent=agent_user).ticket is None


def test_approve_without_an_ai_decision_sends_the_agents_text(make_review_ticket, agent_user):
    ticket = _claimed(
        make_review_ticket, agent_user, with_decision=False, reasons=["ai_unavailable"]
    )

    outcome = services.review_approve(
        ticket_id=ticket.pk, agent=agent_user, body_text="Written by hand."
    )

    assert outcome.decision is None and outcome.edit_distance is None
    assert OutboundMessage.objects.get(ticket=ticket).idempotency_key == f"review:{ticket.pk}:none"


def test_a_new_approval_after_failed_delivery_gets_a_fresh_key(make_review_ticket, agent_user):
    ticket = _claimed(make_review_ticket, agent_user)
    services.review_approve(ticket_id=ticket.pk, agent=agent_user, body_text="First try")
    OutboundMessage.objects.filter(ticket=ticket).update(status=OutboundMessage.Status.FAILED)
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.AWAITING_REVIEW)
    services.review_claim(ticket_id=ticket.pk, agent=agent_user)

    services.review_approve(
        ticket_id=ticket.pk, agent=agent_user, body_text="Second try, new address"
    )

    keys = sorted(
        OutboundMessage.objects.filter(ticket=ticket).values_list("idempotency_key", flat=True)
    )
    decision_pk = TriageDecision.objects.get(ticket=ticket).pk
    assert keys == [
        f"review:{ticket.pk}:{decision_pk}",
        f"review:{ticket.pk}:{decision_pk}:resend1",
    ]


# --- audits and brakes ---------------------------------------------------------------------------


def _audit_sample(ticket):
    outbound = OutboundMessage.objects.create(
        ticket=ticket,
        kind=OutboundMessage.Kind.EMAIL,
        idempotency_key=f"auto:{ticket.pk}",
        to_address=ticket.customer.email,
        body_text="Auto reply",
        auto_submitted=True,
        status=OutboundMessage.Status.SENT,
    )
    return AuditSample.objects.create(
        ticket=ticket,
        outbound=outbound,
        category_slug="card_arrival",
        decision=TriageDecision.objects.filter(ticket=ticket).first(),
    )


def test_grading_an_audit_sample_records_the_grade(make_review_ticket, agent_user):
    sample = _audit_sample(make_review_ticket())

    graded = services.review_audit_grade(
        sample_id=sample.pk, grade="incorrect", reason_code="wrong_facts", grader=agent_user
    )

    assert (
        graded.grade == "incorrect"
        and graded.reason_code == "wrong_facts"
        and graded.graded_by == agent_user
    )
    with pytest.raises(ReviewError):
        services.review_audit_grade(
            sample_id=sample.pk, grade="correct", reason_code="", grader=agent_user
        )


def test_an_incorrect_grade_needs_a_reason(make_review_ticket, agent_user):
    sample = _audit_sample(make_review_ticket())
    with pytest.raises(ReviewError):
        services.review_audit_grade(
            sample_id=sample.pk, grade="incorrect", reason_code="", grader=agent_user
        )


def test_a_manager_resumes_a_braked_category(catalogue, manager_user):
    category = catalogue["categories"]["card_arrival"]
    category.braked, category.braked_reason, category.braked_at = (
        True,
        "3 of 10 audited wrong",
        timezone.now(),
    )
    category.save()

    resumed = services.review_automation_resume(
        category_id=category.pk, actor=manager_user, reason="KB article fixed"
    )

    assert resumed.braked is False


# --- edit distance -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "sent", "expected"),
    [
        ("", "", 0.0),
        ("same", "same", 0.0),
        ("abc", "", 1.0),
        ("kitten", "sitting", 3 / 7),
        ("line one\nline two", "line one\r\nline two  \r\n", 0.0),
    ],
)
def test_edit_distance_is_normalised_levenshtein(draft, sent, expected):
    assert edit_distance_normalised(draft, sent) == pytest.approx(expected, abs=1e-4)


def test_edit_distance_stays_within_bounds_for_long_texts():
    long_draft = "word " * 700
    assert 0 < edit_distance_normalised(long_draft, long_draft + "extra") < 0.01
    assert levenshtein("flaw", "lawn") == 2


# --- concurrency (PostgreSQL: SKIP LOCKED) ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_being_claimed_is_skipped_not_waited_for(catalogue, make_user):
    from tests.review.factories import review_ticket_make

    locked = review_ticket_make(due_in=timedelta(minutes=1))
    free = review_ticket_make(due_in=timedelta(hours=1))
    agent = make_user("skipper")
    holding, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                Ticket.objects.select_for_update().get(pk=locked.pk)
                holding.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert holding.wait(timeout=10)
    try:
        result = services.review_claim_next(agent=agent)
    finally:
        release.set()
        holder.join()
    assert result.ticket.pk == free.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_agents_claiming_at_the_same_moment_get_different_tickets(catalogue, make_user):
    from tests.review.factories import review_ticket_make

    tickets = [review_ticket_make(due_in=timedelta(minutes=10 + i)) for i in range(6)]
    agents = [make_user(f"racer-{i}") for i in range(6)]
    barrier = threading.Barrier(len(agents))
    claimed: list[int | None] = []
    lock = threading.Lock()

    def race(agent) -> None:
        try:
            barrier.wait(timeout=10)
            ticket = services.review_claim_next(agent=agent).ticket
            with lock:
                claimed.append(ticket.pk if ticket else None)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(claimed) == sorted(ticket.pk for ticket in tickets)
    assert connection.vendor == "postgresql"


def test_next_ticket_from_the_queue_resumes_my_current_ticket(make_review_ticket, agent_user):
    current = make_review_ticket(due_in=timedelta(minutes=5))
    make_review_ticket(due_in=timedelta(hours=5))
    services.review_claim_next(agent=agent_user)

    again = services.review_claim_next(agent=agent_user)

    assert again.ticket.pk == current.pk and again.released == []


def test_the_beat_schedule_names_the_registered_expiry_task(settings):
    from support.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "review.tasks.expire_claims_task" in scheduled
    assert expire_claims_task.name == "review.tasks.expire_claims_task"
    assert "review.tasks.expire_claims_task" in app.tasks


def test_an_agent_cannot_decide_on_another_teams_unclaimed_ticket(
    make_review_ticket, make_user, catalogue
):
    ticket = make_review_ticket(team_slug="payments")
    agent = make_user("cards-only")
    AgentProfile.objects.create(user=agent).teams.set([catalogue["teams"]["cards"]])

    with pytest.raises(ReviewError):
        services.review_approve(ticket_id=ticket.pk, agent=agent, body_text="Hello")
    assert not OutboundMessage.objects.filter(ticket=ticket).exists()


def test_a_lapsed_lease_cleared_by_the_expiry_job_does_not_lose_the_agents_work(
    make_review_ticket, agent_user
):
    ticket = _claimed(make_review_ticket, agent_user)
    Ticket.objects.filter(pk=ticket.pk).update(
        claim_expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.review_claims_expire()

    outcome = services.review_approve(ticket_id=ticket.pk, agent=agent_user, body_text="Still here")

    assert outcome.verdict == "approved"
