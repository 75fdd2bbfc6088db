"""Routing: category → team, hard language/skill requirements, least-load assignment with a cap."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from support.models import AgentProfile, Category, Customer, Team, Ticket
from triage.routing import RoutingResult, route_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def cards(db: None) -> Team:
    return Team.objects.create(slug="cards", name="Cards", email="cards@example.com")


@pytest.fixture
def card_arrival(cards: Team) -> Category:
    return Category.objects.create(slug="card_arrival", name="Card arrival", default_team=cards)


@pytest.fixture
def agent(make_user: Callable[..., Any], cards: Team) -> Callable[..., Any]:
    def make(name: str, *, languages: list[str] | None = None, skills: list[str] | None = None,
             cap: int = 25, available: bool = True, team: Team | None = None) -> Any:
        user = make_user(name)
        profile = AgentProfile.objects.create(user=user, languages=languages or ["en"], skills=skills or [],
                                              max_open_tickets=cap, is_available=available)
        profile.teams.add(team or cards)
        return user
    return make


def _ticket(*, assignee: Any = None, status: str = Ticket.Status.TRIAGING) -> Ticket:
    customer, _ = Customer.objects.get_or_create(email="routing@example.com")
    return Ticket.objects.create(subject="s", channel="webhook", source="test", customer=customer,
                                 assignee=assignee, status=status)


def test_it_routes_to_the_categorys_team_and_the_least_loaded_agent(card_arrival: Category, agent: Any) -> None:
    busy, idle = agent("busy"), agent("idle")
    for _ in range(3):
        _ticket(assignee=busy, status=Ticket.Status.AWAITING_REVIEW)
    _ticket(assignee=idle, status=Ticket.Status.REPLIED)  # answered tickets are not load
    ticket = _ticket()
    result = route_ticket(ticket=ticket, category=card_arrival, language="en")
    assert result == RoutingResult(team=card_arrival.default_team, assignee=idle)
    ticket.refresh_from_db()
    assert (ticket.team, ticket.assignee) == (card_arrival.default_team, idle)
    assert ticket.events.filter(verb="routed").exists()


def test_agents_at_their_cap_or_unavailable_are_skipped(card_arrival: Category, agent: Any) -> None:
    full = agent("full", cap=1)
    agent("away", available=False)
    _ticket(assignee=full, status=Ticket.Status.AWAITING_REVIEW)
    result = route_ticket(ticket=_ticket(), category=card_arrival, language="en")
    assert result.team == card_arrival.default_team
    assert result.assignee is None  # everyone is full or away: left for pull


def test_required_language_and_skills_are_hard_requirements(card_arrival: Category, agent: Any) -> None:
    agent("english_only", languages=["en"], skills=["cards"])
    german_no_skill = agent("german_no_skill", languages=["de"])
    german_with_skill = agent("german_with_skill", languages=["de", "en"], skills=["cards", "kyc"])
    for _ in range(2):
        _ticket(assignee=german_with_skill, status=Ticket.Status.AWAITING_REVIEW)
    card_arrival.required_language = "de"
    card_arrival.required_skills = ["kyc"]
    card_arrival.save()
    assert route_ticket(ticket=_ticket(), category=card_arrival, language="en").assignee == german_with_skill
    card_arrival.required_skills = []
    card_arrival.save()
    assert route_ticket(ticket=_ticket(), category=card_arrival, language="de").assignee == german_no_skill


def test_the_ticket_language_is_preferred_when_someone_speaks_it(card_arrival: Category, agent: Any) -> None:
    agent("english")
    french = agent("french", languages=["fr", "en"])
    _ticket(assignee=french, status=Ticket.Status.AWAITING_REVIEW)
    assert route_ticket(ticket=_ticket(), category=card_arrival, language="fr").assignee == french
    # Nobody speaks Finnish: the least-loaded agent still gets it rather than nobody.
    assert route_ticket(ticket=_ticket(), category=card_arrival, language="fi").assignee.username == "english"


def test_a_pull_team_leaves_tickets_unassigned(card_arrival: Category, agent: Any) -> None:
    agent("someone")
    team = card_arrival.default_team
    team.assign_by_load = False
    team.save()
    result = route_ticket(ticket=_ticket(), category=card_arrival, language="en")
    assert result == RoutingResult(team=team, assignee=None)


def test_a_ticket_already_assigned_by_a_human_keeps_its_assignee(card_arrival: Category, agent: Any) -> None:
    chosen = agent("chosen")
    agent("idle")
    _ticket(assignee=chosen, status=Ticket.Status.AWAITING_REVIEW)
    ticket = _ticket(assignee=chosen)
    assert route_ticket(ticket=ticket, category=card_arrival, language="en").assignee == chosen


def test_no_category_keeps_the_current_team(db: None) -> None:
    assert route_ticket(ticket=_ticket(), category=None, language="en") == RoutingResult(team=None, assignee=None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_routing_respects_the_per_agent_cap(card_arrival: Category, agent: Any) -> None:
    # Given two agents with room for 3 tickets each, when 8 tickets are routed at the same time
    # from 8 threads (own connections), then nobody exceeds the cap and 2 stay unassigned.
    first, second = agent("first", cap=3), agent("second", cap=3)
    tickets = [_ticket() for _ in range(8)]
    barrier = threading.Barrier(len(tickets))
    errors: list[BaseException] = []

    def route(ticket: Ticket) -> None:
        try:
            barrier.wait()
            route_ticket(ticket=ticket, category=card_arrival, language="en")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=route, args=(ticket,)) for ticket in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    loads = {user.username: Ticket.objects.filter(assignee=user).count() for user in (first, second)}
    assert loads == {"first": 3, "second": 3}
    assert Ticket.objects.filter(assignee__isnull=True).count() == 2
