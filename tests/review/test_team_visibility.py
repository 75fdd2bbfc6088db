"""Issue 13, point 3 (review UI): an agent restricted to some teams sees only those teams' tickets
(queue, ticket page and its fragments, every action on a ticket, audits); managers see all.
Outside the agent's teams a ticket is a 404, indistinguishable from one that does not exist."""

from __future__ import annotations

import pytest
from django.urls import reverse

from review.models import AuditSample
from support.models import AgentProfile, OutboundMessage, Team, Ticket

pytestmark = pytest.mark.django_db

SECRET_BODY = "My payout account is GB29 NWBK 6016 1331 9268 19, please change it. Zed"
SECRET_EMAIL = "zed.payments@customers.example"


@pytest.fixture
def cards_agent(make_user, catalogue):
    agent = make_user("cards-only")
    profile = AgentProfile.objects.create(user=agent)
    profile.teams.set([Team.objects.get(slug="cards")])
    return agent


@pytest.fixture
def payments_ticket(make_review_ticket):
    return make_review_ticket(
        subject="Change my payout account",
        body_text=SECRET_BODY,
        category_slug="failed_transfer",
        team_slug="payments",
        customer_email=SECRET_EMAIL,
    )


def _outbound(ticket: Ticket, *, status: str = "failed", body: str = "Your transfer is done.") -> OutboundMessage:
    return OutboundMessage.objects.create(
        ticket=ticket, kind="email", idempotency_key=f"visibility:{ticket.pk}:{status}",
        to_address=ticket.customer.email, body_text=body, auto_submitted=True, status=status,
    )


def test_an_agent_cannot_open_another_teams_ticket(client, cards_agent, payments_ticket):
    client.force_login(cards_agent)

    response = client.get(reverse("review:ticket", args=[payments_ticket.pk]))

    assert response.status_code == 404
    html = response.content.decode()
    assert "No such ticket" in html
    assert SECRET_BODY not in html and SECRET_EMAIL not in html


def test_an_agent_still_opens_their_own_teams_ticket(client, cards_agent, make_review_ticket):
    mine = make_review_ticket(subject="Card stuck in the post", customer_email="cara@customers.example")
    client.force_login(cards_agent)

    response = client.get(reverse("review:ticket", args=[mine.pk]))

    assert response.status_code == 200 and "cara@customers.example" in response.content.decode()


def test_a_manager_opens_every_teams_ticket(client, manager_user, catalogue, payments_ticket):
    profile = AgentProfile.objects.create(user=manager_user)
    profile.teams.set([Team.objects.get(slug="cards")])
    client.force_login(manager_user)

    response = client.get(reverse("review:ticket", args=[payments_ticket.pk]))

    assert response.status_code == 200 and SECRET_EMAIL in response.content.decode()


def test_the_delivery_fragment_of_another_teams_ticket_is_a_404(client, cards_agent, payments_ticket):
    _outbound(payments_ticket, status="sent", body="Payout account changed to the new IBAN.")
    client.force_login(cards_agent)

    response = client.get(
        reverse("review:ticket", args=[payments_ticket.pk]), {"fragment": "delivery"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 404
    assert "Payout account changed" not in response.content.decode()


def test_the_queue_lists_only_the_agents_teams(client, cards_agent, make_review_ticket, payments_ticket):
    make_review_ticket(subject="Card stuck in the post")
    client.force_login(cards_agent)

    html = client.get("/review/").content.decode()

    assert "Card stuck in the post" in html and "Change my payout account" not in html
    assert client.get("/review/", {"team": "payments"}).status_code == 400


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("claim", {}),
        ("release", {}),
        ("approve", {"body_text": "Done, your payout account is changed."}),
        ("reject", {"reason_code": "wrong_category", "own_reply": "Changed it."}),
        ("override", {"priority": "urgent", "note": "mine now"}),
        ("escalate", {"note": "look"}),
        ("snooze", {"minutes": "15"}),
    ],
)
def test_every_action_on_another_teams_ticket_is_a_404_and_changes_nothing(
    client, cards_agent, payments_ticket, name, data
):
    client.force_login(cards_agent)
    before = Ticket.objects.values().get(pk=payments_ticket.pk)

    response = client.post(reverse(f"review:{name}", args=[payments_ticket.pk]), data)

    assert response.status_code == 404
    assert Ticket.objects.values().get(pk=payments_ticket.pk) == before
    assert not payments_ticket.review_outcomes.exists()
    assert not payments_ticket.outbound_messages.exists()


def test_the_heartbeat_on_another_teams_ticket_is_a_json_404(client, cards_agent, payments_ticket):
    # Given the ticket is claimed by the cards agent behind the UI's back (e.g. before a team move)
    Ticket.objects.filter(pk=payments_ticket.pk).update(claimed_by=cards_agent)
    client.force_login(cards_agent)

    response = client.post(reverse("review:heartbeat", args=[payments_ticket.pk]))

    assert response.status_code == 404 and response.json() == {"ok": False, "detail": "No such ticket."}


def test_retrying_another_teams_delivery_is_a_404(client, cards_agent, payments_ticket):
    outbound = _outbound(payments_ticket)
    client.force_login(cards_agent)

    response = client.post(
        reverse("review:delivery_retry", args=[payments_ticket.pk, outbound.pk])
    )

    assert response.status_code == 404
    outbound.refresh_from_db()
    assert outbound.status == "failed"


def test_the_audit_pages_show_and_grade_only_the_agents_teams(
    client, cards_agent, make_review_ticket, payments_ticket
):
    mine = make_review_ticket(subject="Card stuck in the post")
    own_sample = AuditSample.objects.create(
        ticket=mine, outbound=_outbound(mine, status="sent", body="Your card ships today."),
        category_slug="card_arrival",
    )
    other_sample = AuditSample.objects.create(
        ticket=payments_ticket,
        outbound=_outbound(payments_ticket, status="sent", body="Payout account changed."),
        category_slug="failed_transfer",
    )
    client.force_login(cards_agent)

    html = client.get(reverse("review:audit")).content.decode()
    refused = client.post(reverse("review:audit_grade", args=[other_sample.pk]), {"grade": "correct"})
    allowed = client.post(reverse("review:audit_grade", args=[own_sample.pk]), {"grade": "correct"})

    assert "Your card ships today." in html
    assert "Payout account changed." not in html and SECRET_EMAIL not in html
    assert refused.status_code == 404 and allowed.status_code == 302
    other_sample.refresh_from_db()
    own_sample.refresh_from_db()
    assert other_sample.grade == "" and own_sample.grade == "correct"


def test_a_ticket_with_no_team_yet_stays_visible_to_every_agent(client, cards_agent, make_review_ticket):
    unrouted = make_review_ticket(subject="Unrouted question")
    Ticket.objects.filter(pk=unrouted.pk).update(team=None)
    client.force_login(cards_agent)

    assert client.get(reverse("review:ticket", args=[unrouted.pk])).status_code == 200


def test_visible_to_is_the_one_rule(cards_agent, manager_user, make_review_ticket, payments_ticket):
    mine = make_review_ticket()

    assert list(Ticket.objects.visible_to(agent=cards_agent).filter(
        pk__in=[mine.pk, payments_ticket.pk]).values_list("pk", flat=True)) == [mine.pk]
    assert Ticket.objects.visible_to(agent=manager_user).filter(pk=payments_ticket.pk).exists()
