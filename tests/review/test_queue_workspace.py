"""The queue's search, views, bulk actions, Next ticket's preference and macros, over HTTP and
through the services (issue 14, points 3, 6 and 7)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from review import services
from review.macros import macro_render
from review.models import Macro
from support.models import AgentProfile, Team, Ticket
from support.reasons import REASON_LABELS, REASON_RANK, reasons_ranked

pytestmark = pytest.mark.django_db


@pytest.fixture
def cards_agent(make_user, catalogue):
    agent = make_user("cards-only")
    AgentProfile.objects.create(user=agent).teams.set([Team.objects.get(slug="cards")])
    return agent


def _references(client, **params) -> list[str]:
    response = client.get(reverse("review:queue"), params)
    assert response.status_code == 200
    return [row.reference for row in response.context["page"].rows]


def test_it_ranks_no_calibrated_threshold_last_and_safety_first():
    ranked = reasons_ranked(["no_calibrated_threshold", "low_confidence", "injection_suspected", "low_confidence"])
    assert ranked == ["injection_suspected", "low_confidence", "no_calibrated_threshold"]


def test_every_known_reason_has_a_rank():
    assert set(REASON_LABELS) <= set(REASON_RANK)


def test_search_finds_a_ticket_by_reference_email_and_words(client, agent_user, make_review_ticket):
    refund = make_review_ticket(subject="Refund please", body_text="I was charged twice for one coffee")
    mailed = make_review_ticket(customer_email="zoe@customers.example")
    make_review_ticket(subject="Unrelated")
    client.force_login(agent_user)

    assert _references(client, q=refund.reference) == [refund.reference]
    assert _references(client, q=str(refund.pk)) == [refund.reference]
    assert _references(client, q="ZOE@customers.example") == [mailed.reference]
    assert _references(client, q="charge") == [refund.reference]  # stemmed on PostgreSQL


def test_search_finds_answered_tickets_too(client, agent_user, make_review_ticket):
    closed = make_review_ticket(subject="Old question")
    Ticket.objects.filter(pk=closed.pk).update(status=Ticket.Status.CLOSED)
    client.force_login(agent_user)

    assert _references(client) == []
    assert _references(client, q=closed.reference) == [closed.reference]


def test_search_never_finds_another_teams_ticket(client, cards_agent, make_review_ticket):
    other = make_review_ticket(
        team_slug="payments", category_slug="failed_transfer", customer_email="zed@customers.example"
    )
    client.force_login(cards_agent)

    assert _references(client, q=other.reference) == []
    assert _references(client, q="zed@customers.example") == []


def test_views_count_and_list_their_tickets(client, agent_user, make_user, make_review_ticket):
    mine = make_review_ticket(subject="Mine")
    Ticket.objects.filter(pk=mine.pk).update(assignee=agent_user)
    late = make_review_ticket(subject="Late", due_in=timedelta(minutes=-5))
    snoozed = make_review_ticket(subject="Later")
    Ticket.objects.filter(pk=snoozed.pk).update(snoozed_until=timezone.now() + timedelta(hours=1))
    escalated = make_review_ticket(subject="Boss")
    Ticket.objects.filter(pk=escalated.pk).update(escalated_to_manager=True)
    client.force_login(agent_user)

    response = client.get(reverse("review:queue"))
    assert response.context["page"].counts["view"] == {
        "mine": 1, "escalated": 1, "snoozed": 1, "pending": 0, "breached": 1
    }
    assert _references(client, view="mine") == [mine.reference]
    assert _references(client, view="breached") == [late.reference]
    assert _references(client, view="snoozed") == [snoozed.reference]
    assert _references(client, view="escalated") == [escalated.reference]
    assert 'aria-label="Views"' in response.content.decode()


def test_the_queue_costs_the_same_queries_with_a_search_and_a_view(client, agent_user, make_review_ticket):
    for index in range(30):
        make_review_ticket(subject=f"Card stuck {index}", due_in=timedelta(minutes=-index - 1))
    client.force_login(agent_user)

    def queries(limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("review:queue"), {"q": "card", "view": "breached", "limit": limit})
        assert response.status_code == 200
        return len(captured)

    queries(3)  # warm the counts cache
    assert queries(3) == queries(30)


def test_a_bulk_action_first_asks_for_confirmation_and_changes_nothing(
    client, agent_user, make_review_ticket
):
    ticket = make_review_ticket()
    client.force_login(agent_user)

    response = client.post(reverse("review:bulk"), {"action": "spam", "ticket": [ticket.pk]})

    assert response.status_code == 200
    assert "Close 1 ticket as spam?" in response.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.AWAITING_REVIEW


def test_bulk_close_as_spam_skips_another_teams_ticket(client, cards_agent, make_review_ticket):
    ours = make_review_ticket()
    theirs = make_review_ticket(team_slug="payments", category_slug="failed_transfer")
    client.force_login(cards_agent)

    response = client.post(
        reverse("review:bulk"),
        {"action": "spam", "ticket": [ours.pk, theirs.pk], "confirmed": "on"},
        follow=True,
    )

    assert "1 ticket closed as spam. 1 ticket skipped" in response.content.decode()
    assert Ticket.objects.get(pk=ours.pk).status == Ticket.Status.CLOSED
    assert Ticket.objects.get(pk=theirs.pk).status == Ticket.Status.AWAITING_REVIEW
    assert ours.events.filter(verb="closed_as_spam", actor=cards_agent).count() == 1


def test_bulk_snooze_and_assign(client, agent_user, make_user, make_review_ticket):
    colleague = make_user("colleague")
    first, second = make_review_ticket(), make_review_ticket()
    client.force_login(agent_user)

    client.post(reverse("review:bulk"), {"action": "snooze", "ticket": [first.pk], "minutes": "60", "confirmed": "on"})
    client.post(
        reverse("review:bulk"),
        {"action": "assign", "ticket": [first.pk, second.pk], "assignee": colleague.pk, "confirmed": "on"},
    )

    first.refresh_from_db()
    assert first.snoozed_until and first.snoozed_until > timezone.now() + timedelta(minutes=55)
    assert set(Ticket.objects.filter(assignee=colleague).values_list("pk", flat=True)) == {first.pk, second.pk}


def test_next_ticket_takes_mine_then_unassigned_then_a_colleagues(agent_user, make_user, make_review_ticket):
    colleague = make_user("colleague")
    theirs = make_review_ticket(due_in=timedelta(minutes=1))
    Ticket.objects.filter(pk=theirs.pk).update(assignee=colleague)
    anyones = make_review_ticket(due_in=timedelta(minutes=30))
    mine = make_review_ticket(due_in=timedelta(hours=8))
    Ticket.objects.filter(pk=mine.pk).update(assignee=agent_user)

    order = []
    for _ in range(3):
        result = services.review_claim_next(agent=agent_user, skip_ticket_id=None)
        assert result.ticket is not None
        order.append(result.ticket.pk)
        Ticket.objects.filter(pk=result.ticket.pk).update(status=Ticket.Status.REPLIED)

    assert order == [mine.pk, anyones.pk, theirs.pk]


def test_a_macro_is_rendered_for_the_ticket_and_the_agent(agent_user, make_review_ticket):
    ticket = make_review_ticket()

    text = macro_render(
        body="Hi {customer_name}, about {ticket_reference}: {unknown} {json: 1}. {agent_name}",
        ticket=ticket,
        agent=agent_user,
    )

    assert text == f"Hi Ana Lima, about {ticket.reference}: {{unknown}} {{json: 1}}. agent-test"


def test_the_macros_endpoint_renders_every_macro_for_a_visible_ticket(
    client, cards_agent, make_review_ticket
):
    Macro.objects.create(name="Thanks", body="Thanks {customer_name}!")
    ours = make_review_ticket()
    theirs = make_review_ticket(team_slug="payments", category_slug="failed_transfer")
    client.force_login(cards_agent)

    response = client.get(reverse("review:macros", args=[ours.pk]))
    hidden = client.get(reverse("review:macros", args=[theirs.pk]))

    assert response.json() == {"macros": [{"id": Macro.objects.get().pk, "name": "Thanks", "text": "Thanks Ana Lima!"}]}
    assert hidden.status_code == 404
